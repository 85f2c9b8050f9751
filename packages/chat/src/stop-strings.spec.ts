import { StopStringMatcher } from './stop-strings';

function feed(stops: string[], deltas: string[]): { shown: string; stop: string | null; rest: string } {
  const m = new StopStringMatcher(stops);
  let shown = '';
  for (const d of deltas) {
    const r = m.push(d);
    shown += r.text;
    if (r.stop !== null) return { shown, stop: r.stop, rest: m.flush() };
  }
  return { shown, stop: null, rest: m.flush() };
}

describe('StopStringMatcher', () => {
  it('cuts before the stop string even when it arrives in pieces', () => {
    expect(feed(['Human:'], ['Hello', ' there\n Hu', 'ma', 'n: more'])).toEqual({ shown: 'Hello there\n ', stop: 'Human:', rest: '' });
  });

  it('holds back only what could still become a stop string', () => {
    const m = new StopStringMatcher(['END']);
    expect(m.push('abc E').text).toBe('abc ');
    expect(m.push('N').text).toBe('');
    expect(m.push('x').text).toBe('ENx');
    expect(m.push('EN').text).toBe('');
    expect(m.flush()).toBe('EN');
  });

  it('stops at the earliest of several stop strings', () => {
    expect(feed(['b', 'cd'], ['a', 'cdb'])).toEqual({ shown: 'a', stop: 'cd', rest: '' });
    expect(feed(['aab'], ['a', 'a', 'a', 'b'])).toEqual({ shown: 'a', stop: 'aab', rest: '' });
  });

  it('passes text straight through without stop strings', () => {
    expect(feed([], ['a', 'b'])).toEqual({ shown: 'ab', stop: null, rest: '' });
  });
});
