// Stop strings over streamed text: cut at the first match, and hold back any tail that could still become one.

export interface StopResult {
  /** Text that can be shown now (never part of a stop string). */
  text: string;
  /** The stop string that ended the text, or null. */
  stop: string | null;
}

/** OpenAI semantics: the returned text ends just before the first stop string and never contains it. */
export class StopStringMatcher {
  private pending = '';
  private done = false;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Feeds new text; returns what may be emitted and whether a stop string was reached. */
  push(delta: string): StopResult {
    if (this.done) return { text: '', stop: null };
    if (this.stops.length === 0) return { text: delta, stop: null };
    this.pending += delta;
    let at = -1;
    let which: string | null = null;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        which = s;
      }
    }
    if (which !== null) {
      const text = this.pending.slice(0, at);
      this.pending = '';
      this.done = true;
      return { text, stop: which };
    }
    const hold = this.heldLength();
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stop: null };
  }

  /** The held-back tail (no stop string came): emit it when the text ends for another reason. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return this.done ? '' : text;
  }

  /** Length of the longest suffix of pending that is a proper prefix of some stop string. */
  private heldLength(): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > best; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
