import { StopStringMatcher } from './stop-strings';
import { CompletionText } from './completion-text';

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

describe('CompletionText', () => {
  const chars = 'abcdefghijklmnopqrstuvwxyz :';
  const decode = (ids: readonly number[]): string => ids.map((i) => chars[i]).join('');
  const ids = (s: string): number[] => [...s].map((c) => chars.indexOf(c));

  it('ends at EOS (not shown), counting it as a completion token', () => {
    const t = new CompletionText({ decode, eos: [99], maxTokens: 10 });
    const steps = [...ids('hi'), 99].map((i) => t.push(i));
    expect(steps.map((s) => s.finish)).toEqual([null, null, 'stop']);
    expect(t.text).toBe('hi');
    expect(t.tokens).toBe(3);
  });

  it('ends at the token limit with finish_reason length, flushing held text', () => {
    const t = new CompletionText({ decode, stop: ['xyz'], maxTokens: 3 });
    const got = ids('abx').map((i) => t.push(i));
    expect(got[2]).toEqual({ text: 'x', finish: 'length' });
    expect(t.text).toBe('abx');
  });

  it('ends at a stop string with finish_reason stop and leaves it out', () => {
    const t = new CompletionText({ decode, stop: ['human:'], maxTokens: 50 });
    for (const i of ids('ok human: more')) t.push(i);
    expect(t.text).toBe('ok ');
    expect(t.finishReason).toBe('stop');
    expect(t.stopString).toBe('human:');
    expect(t.tokens).toBe(9);
  });
});
