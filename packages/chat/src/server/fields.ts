// Typed reads of a JSON request body with OpenAI's validation messages (wrong type, out of range, unknown argument).
import { ApiError, badRequest } from './errors';

export type JsonObject = Record<string, unknown>;

/** How OpenAI names a JSON value's type in its messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return 'an object';
}

export function invalidType(param: string, expected: string, got: unknown): ApiError {
  return badRequest(`Invalid type for '${param}': expected ${expected}, but got ${typeName(got)} instead.`, param, 'invalid_type');
}

export function invalidValue(param: string, got: unknown, supported: readonly string[]): ApiError {
  const list = supported.map((s) => `'${s}'`);
  const said = list.length > 1 ? `${list.slice(0, -1).join(', ')}, and ${list[list.length - 1]}` : list.join('');
  return badRequest(`Invalid value: '${String(got)}'. Supported values are: ${said}.`, param, 'invalid_value');
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** Reads the fields of one JSON object; `null` counts as not given for optional fields, as in OpenAI's API. */
export class Fields {
  constructor(readonly obj: JsonObject, private readonly prefix = '') {}

  /** Rejects any key not in `allowed` (OpenAI: "Unrecognized request argument supplied"). */
  only(allowed: readonly string[]): this {
    for (const k of Object.keys(this.obj)) {
      if (!allowed.includes(k)) throw badRequest(`Unrecognized request argument supplied: ${this.prefix}${k}`, `${this.prefix}${k}`, 'unknown_parameter');
    }
    return this;
  }

  param(name: string): string {
    return `${this.prefix}${name}`;
  }

  given(name: string): boolean {
    return this.obj[name] !== undefined && this.obj[name] !== null;
  }

  required(name: string): unknown {
    if (!this.given(name)) throw badRequest(`Missing required parameter: '${this.param(name)}'.`, this.param(name), 'missing_required_parameter');
    return this.obj[name];
  }

  number(name: string, rule: NumberRule = {}): number | undefined {
    if (!this.given(name)) return undefined;
    const v = this.obj[name];
    const p = this.param(name);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidType(p, rule.integer ? 'an integer' : 'a decimal', v);
    if (rule.integer && !Number.isInteger(v)) throw invalidType(p, 'an integer', v);
    const kind = rule.integer ? 'integer' : 'decimal';
    if (rule.min !== undefined && v < rule.min) {
      throw badRequest(`Invalid '${p}': ${kind} below minimum value. Expected a value >= ${rule.min}, but got ${v} instead.`, p, `${kind}_below_min_value`);
    }
    if (rule.max !== undefined && v > rule.max) {
      throw badRequest(`Invalid '${p}': ${kind} above maximum value. Expected a value <= ${rule.max}, but got ${v} instead.`, p, `${kind}_above_max_value`);
    }
    return v;
  }

  integer(name: string, rule: Omit<NumberRule, 'integer'> = {}): number | undefined {
    return this.number(name, { ...rule, integer: true });
  }

  boolean(name: string): boolean | undefined {
    if (!this.given(name)) return undefined;
    const v = this.obj[name];
    if (typeof v !== 'boolean') throw invalidType(this.param(name), 'a boolean', v);
    return v;
  }

  string(name: string): string | undefined {
    if (!this.given(name)) return undefined;
    const v = this.obj[name];
    if (typeof v !== 'string') throw invalidType(this.param(name), 'a string', v);
    return v;
  }

  object(name: string): Fields | undefined {
    if (!this.given(name)) return undefined;
    const v = this.obj[name];
    if (!isObject(v)) throw invalidType(this.param(name), 'an object', v);
    return new Fields(v, `${this.param(name)}.`);
  }

  array(name: string, opts: { min?: number; max?: number } = {}): unknown[] | undefined {
    if (!this.given(name)) return undefined;
    const v = this.obj[name];
    const p = this.param(name);
    if (!Array.isArray(v)) throw invalidType(p, 'an array', v);
    if (opts.min !== undefined && v.length < opts.min) {
      if (v.length === 0) throw badRequest(`Invalid '${p}': empty array. Expected an array with minimum length ${opts.min}, but got an empty array instead.`, p, 'empty_array');
      throw badRequest(`Invalid '${p}': array too short. Expected an array with minimum length ${opts.min}, but got an array with length ${v.length} instead.`, p, 'array_below_min_length');
    }
    if (opts.max !== undefined && v.length > opts.max) {
      throw badRequest(`Invalid '${p}': array too long. Expected an array with maximum length ${opts.max}, but got an array with length ${v.length} instead.`, p, 'array_above_max_length');
    }
    return v;
  }

  /** `stop`: a string or up to `max` strings (empty strings are refused: they would stop before the first token). */
  stopStrings(name: string, max = 4): string[] {
    if (!this.given(name)) return [];
    const v = this.obj[name];
    const p = this.param(name);
    const list = typeof v === 'string' ? [v] : this.array(name, { max });
    if (!list) return [];
    return list.map((s, i) => {
      if (typeof s !== 'string') throw invalidType(`${p}[${i}]`, 'a string', s);
      if (s.length === 0) throw badRequest(`Invalid '${p}': stop sequences must not be empty.`, p, 'invalid_value');
      return s;
    });
  }

  /** `logit_bias`: {"token id": bias in [-100, 100]} with ids inside the vocabulary. */
  logitBias(name: string, vocabSize: number): [number, number][] {
    const f = this.object(name);
    if (!f) return [];
    const out: [number, number][] = [];
    for (const [k, v] of Object.entries(f.obj)) {
      const id = Number(k);
      if (!/^\d+$/.test(k) || !Number.isSafeInteger(id) || id >= vocabSize) {
        throw badRequest(`Invalid key in '${this.param(name)}': ${k}. Keys must be token ids between 0 and ${vocabSize - 1}.`, this.param(name), 'invalid_value');
      }
      const b = f.number(k, { min: -100, max: 100 });
      if (b !== undefined) out.push([id, b]);
    }
    return out;
  }

  /** One of `values`. */
  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) throw invalidValue(this.param(name), v, values);
    return v as T;
  }
}
