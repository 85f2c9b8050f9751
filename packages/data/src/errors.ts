// The one error type the data layer throws for input a user can fix: it says what, where, and what to do.

/** Where in the input a problem was found. */
export interface DataLocation {
  file?: string;
  /** Human wording of the position, e.g. "line 12", "row 40", "item 3 (line 7)". */
  where?: string;
  key?: string;
}

export class DataError extends Error {
  readonly location: DataLocation;

  constructor(message: string, location: DataLocation = {}) {
    const parts: string[] = [];
    if (location.file) parts.push(location.file);
    if (location.where) parts.push(location.where);
    if (location.key) parts.push(`key '${location.key}'`);
    super(parts.length ? `${parts.join(', ')}: ${message}` : message);
    this.name = 'DataError';
    this.location = location;
  }
}

/** Describe a JS value's type the way an error message should ("string", "null", "number", "list", "object"). */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'list';
  if (ArrayBuffer.isView(value)) return 'list';
  return typeof value;
}
