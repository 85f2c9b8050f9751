// The error a command line gets for a usage problem (unknown or malformed flag, missing argument): one line naming the flag.
/** A command-line usage problem (unknown command or flag, missing or invalid value); runCli adds a --help hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
