import { CompletionText } from './completion-text';

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
    expect(got[2]).toEqual({ text: 'x', finish: 'length', logprobs: [] });
    expect(t.text).toBe('abx');
  });

  it('hands each token\'s log-probability out with the text it produced (held text: later), EOS left out', () => {
    const t = new CompletionText({ decode, stop: ['xyz'], eos: [99], maxTokens: 10 });
    const lp = (l: number) => ({ logprob: l, top: [[0, -0.1]] as [number, number][] });
    const a = t.push(0, lp(-1));
    const x = t.push(23, lp(-2)); // 'x' might start 'xyz': held back, and so is its log-probability
    const b = t.push(1, lp(-3));
    const end = t.push(99, lp(-4));
    expect([a.text, x.text, b.text, end.finish]).toEqual(['a', '', 'xb', 'stop']);
    expect(a.logprobs.map((e) => e.logprob)).toEqual([-1]);
    expect(x.logprobs).toEqual([]);
    expect(b.logprobs.map((e) => [e.token, e.logprob])).toEqual([['x', -2], ['b', -3]]);
    expect(end.logprobs).toEqual([]);
    expect(t.logprobs.map((e) => e.token).join('')).toBe(t.text);
    expect(t.logprobs[0].top).toEqual([{ id: 0, token: 'a', logprob: -0.1 }]);
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
