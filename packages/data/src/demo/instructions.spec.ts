// The demo's instruction judge on every template, with answers that follow and answers that do not.
import { demoInstruction, followsDemoInstruction } from './instructions';

describe('followsDemoInstruction', () => {
  test('topic templates: the word must appear as a word, any case', () => {
    for (const p of [
      'Write a sentence that uses the word "whale".',
      'Give me one sentence containing the word "whale".',
      '\n\nHuman: Use the word "whale" in a sentence.\n\nAssistant:',
      'Say something with the word "whale" in it.',
    ]) {
      expect(demoInstruction(p)).toEqual({ kind: 'topic', word: 'whale' });
      expect(followsDemoInstruction(p, ' The Whale was white.')).toBe(true);
      expect(followsDemoInstruction(p, ' The whaler was white.')).toBe(false);
    }
  });

  test('opening templates: the answer must start with the opening words', () => {
    for (const p of ['Continue the sentence that begins "Now, the".', 'Finish this sentence: "Now, the ..."', 'Complete the line that starts with "Now, the".']) {
      expect(demoInstruction(p)).toEqual({ kind: 'opening', opening: 'Now, the' });
      expect(followsDemoInstruction(p, ' Now, the  ship sailed.')).toBe(true);
      expect(followsDemoInstruction(p, 'The ship sailed, now.')).toBe(false);
    }
  });

  test('version 3 templates (no quotes, so the prompt holds the tokens the answer copies)', () => {
    for (const p of ['Write a sentence that uses the word whale.', 'Give me one sentence containing the word whale.', '\n\nHuman: Use the word whale in a sentence.\n\nAssistant:', 'Say something with the word whale in it.']) {
      expect(demoInstruction(p)).toEqual({ kind: 'topic', word: 'whale' });
    }
    for (const p of ['\n\nHuman: Continue the sentence that begins with Mr. Speaker, the.\n\nAssistant:', 'Finish this sentence: Mr. Speaker, the ...', 'Complete the line that starts with Mr. Speaker, the.']) {
      expect(demoInstruction(p)).toEqual({ kind: 'opening', opening: 'Mr. Speaker, the' });
      expect(followsDemoInstruction(p, ' Mr. Speaker, the  time has come.')).toBe(true);
    }
  });

  test('other prompts are not judged', () => {
    expect(followsDemoInstruction('Human: tell me a joke. Assistant:', 'no')).toBeNull();
  });
});
