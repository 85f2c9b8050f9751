// Collator layouts against hand-written matrices: right padding and -100 labels (step 1), chosen-then-rejected (step 2), left padding (step 3).
import { attendedTokens, collatePhase1, collatePhase2, collatePhase3, IGNORE_INDEX, toRows } from './collators';

const X = IGNORE_INDEX;

describe('collators', () => {
  it('phase 1: right-padded to max_seq_len, labels -100 on padding', () => {
    const b = collatePhase1(
      [
        { inputIds: [5, 6, 7], promptLength: 2 },
        { inputIds: [8, 9, 10, 11, 12], promptLength: 1 },
      ],
      { padTokenId: 0, maxSeqLen: 6 },
    );
    expect(b.inputIds.shape).toEqual([2, 6]);
    expect(toRows(b.inputIds)).toEqual([
      [5, 6, 7, 0, 0, 0],
      [8, 9, 10, 11, 12, 0],
    ]);
    expect(toRows(b.attentionMask)).toEqual([
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 1, 0],
    ]);
    expect(toRows(b.labels)).toEqual([
      [5, 6, 7, X, X, X],
      [8, 9, 10, 11, 12, X],
    ]);
    expect(b.inputIds.data).toBeInstanceOf(Int32Array);
  });

  it('phase 1: a real eos that equals the pad id keeps its label; maskPrompt also hides the prompt; padTo longest', () => {
    const b = collatePhase1([{ inputIds: [5, 6, 2], promptLength: 2 }, { inputIds: [7], promptLength: 1 }], {
      padTokenId: 2,
      maxSeqLen: 8,
      padTo: 'longest',
      maskPrompt: true,
    });
    expect(toRows(b.inputIds)).toEqual([
      [5, 6, 2],
      [7, 2, 2],
    ]);
    expect(toRows(b.labels)).toEqual([
      [X, X, 2],
      [X, X, X],
    ]);
  });

  it('phase 2: all chosen rows, then all rejected rows (DataCollatorReward), right-padded', () => {
    const b = collatePhase2(
      [
        { chosenIds: [1, 2, 3], rejectedIds: [1, 2] },
        { chosenIds: [4], rejectedIds: [4, 5, 6, 7] },
      ],
      { padTokenId: 9, maxSeqLen: 5 },
    );
    expect(b.inputIds.shape).toEqual([4, 5]);
    expect(toRows(b.inputIds)).toEqual([
      [1, 2, 3, 9, 9],
      [4, 9, 9, 9, 9],
      [1, 2, 9, 9, 9],
      [4, 5, 6, 7, 9],
    ]);
    expect(toRows(b.attentionMask)).toEqual([
      [1, 1, 1, 0, 0],
      [1, 0, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [1, 1, 1, 1, 0],
    ]);
    // 3 + 1 + 2 + 4 real tokens, the padding not counted
    expect(attendedTokens(b)).toBe(10);
  });

  it('phase 3: left-padded to max_prompt_seq_len, prompt in reading order (the flip trick\'s result)', () => {
    const b = collatePhase3([{ promptIds: [11, 12, 13] }, { promptIds: [21] }], { padTokenId: 0, maxPromptSeqLen: 5 });
    expect(toRows(b.prompt)).toEqual([
      [0, 0, 11, 12, 13],
      [0, 0, 0, 0, 21],
    ]);
    expect(toRows(b.promptAttentionMask)).toEqual([
      [0, 0, 1, 1, 1],
      [0, 0, 0, 0, 1],
    ]);
  });

  it('refuses to pad without a pad id, and rows longer than max_seq_len', () => {
    expect(() => collatePhase1([{ inputIds: [1], promptLength: 0 }], { padTokenId: undefined, maxSeqLen: 4 })).toThrow(/pad token id/);
    expect(() => collatePhase2([{ chosenIds: [1, 2, 3], rejectedIds: [1] }], { padTokenId: 0, maxSeqLen: 2 })).toThrow(/3 tokens, more than maxSeqLen 2/);
  });
});
