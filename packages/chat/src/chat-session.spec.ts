import * as tf from '@tensorflow/tfjs';
import { initBackend, type Tokenizer } from '@rlhfkit/core-tensor';
import { ChatSession } from './chat-session';
import { loadServedModel } from './served-model';
import { CHATML_TEMPLATE, ScriptedEngine, scriptedModel, tinyChatModel, tinyTokenizer, type TinyChatModel } from './testing';

describe('ChatSession', () => {
  let fixture: TinyChatModel;
  let tok: Tokenizer;
  let answer: number[];
  beforeAll(async () => {
    await initBackend({ quiet: true });
    fixture = await tinyChatModel();
    tok = await tinyTokenizer(fixture.dir);
    // The model answers, then invents the next human turn, as DeepSpeed-Chat's chatbot expects models to do.
    answer = await tok.encode('Hi there! ¿Qué tal? 日本\n\n Human: and now I talk');
  });
  afterAll(() => fixture.remove());

  it("keeps DeepSpeed-Chat's history, cuts the invented Human turn, streams complete characters", async () => {
    const engine = new ScriptedEngine(() => answer);
    const session = new ChatSession(scriptedModel(engine, tok), { maxNewTokens: 64 });
    const pieces: string[] = [];
    const r1 = await session.send('hello', (d) => pieces.push(d));
    expect(r1).toMatchObject({ text: 'Hi there! ¿Qué tal? 日本', finishReason: 'stop', droppedRounds: 0, truncated: false });
    expect(pieces.join('')).toBe('Hi there! ¿Qué tal? 日本\n\n ');
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(await tok.decode(engine.runs[0].rows[0].promptIds)).toBe(' Human: hello\n Assistant: ');
    await session.send('again');
    expect(session.rounds).toBe(2);
    expect(await tok.decode(engine.runs[1].rows[0].promptIds)).toBe(' Human: hello\n Assistant: Hi there! ¿Qué tal? 日本\n\n Human: again\n Assistant: ');
    expect(session.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    session.clear();
    expect(session.rounds).toBe(0);
    await session.send('fresh start');
    expect(await tok.decode(engine.runs[2].rows[0].promptIds)).toBe(' Human: fresh start\n Assistant: ');
    expect(engine.runs[2].rows[0].maxNewTokens).toBe(64);
  });

  it('stops at the token limit or EOS and keeps a system message through clear', async () => {
    const eos = tok.eosTokenId!;
    const engine = new ScriptedEngine((p) => (p.length > 12 ? [...answer.slice(0, 3), eos] : answer));
    const session = new ChatSession(scriptedModel(engine, tok), { maxNewTokens: 2, system: 'Be kind.' });
    expect((await session.send('x')).finishReason).toBe('length');
    const again = new ChatSession(scriptedModel(engine, tok), { maxNewTokens: 20, system: 'Be kind.' });
    const r = await again.send('a longer question here');
    expect(r).toMatchObject({ text: await tok.decode(answer.slice(0, 3)), finishReason: 'stop', completionTokens: 4 });
    again.clear();
    expect(again.messages).toEqual([{ role: 'system', content: 'Be kind.' }]);
    expect(again.promptFor('q')).toBe('Be kind.\n\n Human: q\n Assistant: ');
  });

  it('leaves out the earliest rounds when the conversation outgrows the context', async () => {
    const engine = new ScriptedEngine(() => answer, { contextLength: 48 });
    const session = new ChatSession(scriptedModel(engine, tok), { maxNewTokens: 8 });
    let last = { droppedRounds: 0, truncated: false };
    for (let i = 0; i < 4; i++) last = await session.send(`question number ${i}`);
    expect(last.droppedRounds).toBeGreaterThan(0);
    for (const run of engine.runs) expect(run.rows[0].promptIds.length + run.rows[0].maxNewTokens).toBeLessThanOrEqual(48);
    expect(await tok.decode(engine.runs[3].rows[0].promptIds)).toMatch(/ Human: question number 3\n Assistant: $/);
    expect(session.rounds).toBe(4);
  });

  it('chats with a real tiny model through its chat_template, leaving tensors as they were', async () => {
    const withTemplate = await tinyChatModel({ chatTemplate: CHATML_TEMPLATE });
    const model = await loadServedModel(withTemplate.dir, { worker: false });
    try {
      expect(model.format.name).toBe('chat-template');
      const session = new ChatSession(model, { maxNewTokens: 6 });
      expect(session.promptFor('hi')).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
      const before = tf.memory().numTensors;
      let streamed = '';
      const r = await session.send('hi', (d) => (streamed += d));
      expect(r.completionTokens).toBeLessThanOrEqual(6);
      expect(streamed.replace(/\s+$/, '')).toBe(r.text);
      await session.send('and again');
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await model.close();
      withTemplate.remove();
    }
  });
});
