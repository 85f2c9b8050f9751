// An added token whose id in tokenizer.json disagrees with the id the tokenizer gives it is named in a warning.
import { byteLevelBpeJson } from './bpe-json';
import { tokenizerFromJson } from './load';

describe('added token ids', () => {
  const vocab: Record<string, number> = { a: 0, b: 1, c: 2, ab: 3, '<|endoftext|>': 4 };
  const json = (addedId: number): string =>
    JSON.stringify(byteLevelBpeJson({ vocab, merges: ['a b'], addedTokens: [{ id: addedId, content: '<|endoftext|>', special: true }], addPrefixSpace: false }));

  test('a mismatch is warned about, naming the token and both ids; a matching id is silent', async () => {
    const lines: string[] = [];
    const tok = await tokenizerFromJson(json(7), {}, 'tok/tokenizer.json', { warn: (l) => lines.push(l) });
    expect(tok.native.tokenToId('<|endoftext|>')).toBe(4);
    expect(lines).toEqual([
      'rlhfkit: warning: tok/tokenizer.json: added token "<|endoftext|>" has id 7 in added_tokens, but the tokenizer encodes it as 4 ' +
        '(the id its vocabulary has, or the next free one); fix the id in tokenizer.json to the one the model was trained with',
    ]);
    lines.length = 0;
    await tokenizerFromJson(json(4), {}, 'tok/tokenizer.json', { warn: (l) => lines.push(l) });
    expect(lines).toEqual([]);
  });
});
