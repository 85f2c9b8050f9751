import { gpt2TokenizerWithMerges, type Tokenizer } from '@rlhfkit/core-tensor';
import { IncrementalDetokenizer, specialIdSet, syncDecoder } from './detokenizer';

describe('incremental detokenization', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    // 500 merges: every non-ASCII character is several byte tokens, the case streaming must not split.
    tok = await gpt2TokenizerWithMerges(500);
  });

  it('decodes synchronously exactly as the async decode does', async () => {
    const text = ' Human: héllo 日本 🎉\n Assistant: naïve café';
    const ids = await tok.encode(text);
    const decode = syncDecoder(tok);
    expect(decode(ids)).toBe(await tok.decode(ids, { skipSpecialTokens: true }));
    expect(decode([...ids, tok.eosTokenId!])).toBe(text);
    expect(syncDecoder(tok, { skipSpecialTokens: false })([tok.eosTokenId!])).toBe('<|endoftext|>');
  });

  it('never emits part of a multi-byte character, and the pieces add up to the whole', async () => {
    const prompt = await tok.encode('Q: ');
    const answer = await tok.encode('日本語 👍🏽 ünïcödé — ok');
    const d = new IncrementalDetokenizer(syncDecoder(tok), prompt, specialIdSet(tok));
    const pieces: string[] = [];
    for (const id of answer) pieces.push(d.push(id));
    pieces.push(d.flush());
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.join('')).toBe('日本語 👍🏽 ünïcödé — ok');
    expect(d.emitted).toBe(pieces.join(''));
    // 日 is three byte tokens: the first two give nothing, the third the whole character.
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(5);
  });

  it('skips special tokens and flushes an incomplete tail as U+FFFD, as decode() shows it', async () => {
    const d = new IncrementalDetokenizer(syncDecoder(tok), [], specialIdSet(tok));
    const [first] = await tok.encode('日'); // the first byte of a three-byte character
    expect(d.push(tok.eosTokenId!)).toBe('');
    expect(d.push(first)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
  });
});
