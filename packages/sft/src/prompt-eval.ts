// DeepSpeed-Chat's prompt_eval.py: the baseline's and the fine-tuned model's answers to the same prompts, side by side.
import { loadModelForTraining, loadTrainingTokenizer, type CausalLM, type GenerationConfig, type Tokenizer } from '@rlhfkit/core-tensor';
import { BUILTIN_PROMPTS, readPromptsFile, type PromptLanguage } from './prompts';

export interface PromptEvalOptions {
  /** `--model_name_or_path_baseline`: its tokenizer is used for both models, as in DeepSpeed-Chat. */
  baseline: string;
  /** `--model_name_or_path_finetune`. */
  finetune: string;
  /** Explicit prompts (win over promptsFile and language). */
  prompts?: string[];
  /** `--prompts FILE`. */
  promptsFile?: string;
  /** `--language`: which built-in list (default English). */
  language?: PromptLanguage;
  /** Default 100. */
  maxNewTokens?: number;
  doSample?: boolean;
  topK?: number;
  topP?: number;
  temperature?: number;
  repetitionPenalty?: number;
  /** Answers per prompt and model; more than 1 needs doSample (HF refuses it for greedy search too). */
  numReturnSequences?: number;
  /** Sampling seed (default 1234). */
  seed?: number;
  addEotToken?: boolean;
  eotToken?: string;
  log?: (line: string) => void;
}

export interface PromptEvalRow {
  prompt: string;
  /** Decoded prompt + answer (special tokens skipped), one entry per return sequence. */
  baseline: string[];
  finetune: string[];
}

/** The prompt list: explicit, from a file, or DeepSpeed-Chat's built-in list for the language. */
export function resolvePrompts(o: Pick<PromptEvalOptions, 'prompts' | 'promptsFile' | 'language'>): string[] {
  if (o.prompts && o.prompts.length) return o.prompts;
  if (o.promptsFile) return readPromptsFile(o.promptsFile);
  const lang = o.language ?? 'English';
  const list = BUILTIN_PROMPTS[lang];
  if (!list) throw new Error(`--language must be one of ${Object.keys(BUILTIN_PROMPTS).join(', ')}, got '${lang}'`);
  return [...list];
}

/** The answers of one model to one prompt: prompt + new tokens decoded as DeepSpeed-Chat does (skip special tokens, no clean-up). */
export async function answer(model: CausalLM, tokenizer: Tokenizer, prompt: string, gen: GenerationConfig, n = 1): Promise<string[]> {
  const ids = await tokenizer.encode(prompt);
  if (ids.length === 0) throw new Error(`the prompt ${JSON.stringify(prompt)} encodes to no tokens; give a non-empty prompt`);
  const out = await model.generate(Array.from({ length: n }, () => ids), gen);
  return tokenizer.decodeBatch(out.sequences, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
}

/**
 * Loads both models (create_hf_model with the baseline's tokenizer: pad = eos, vocab padded to a multiple of 8),
 * then answers every prompt with each; `onRow` sees each row as soon as it is ready.
 */
export async function runPromptEval(o: PromptEvalOptions, onRow?: (row: PromptEvalRow, index: number) => void): Promise<PromptEvalRow[]> {
  const prompts = resolvePrompts(o);
  const n = o.numReturnSequences ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--num_return_sequences must be an integer >= 1, got ${n}`);
  if (n > 1 && !o.doSample) throw new Error('--num_return_sequences > 1 needs --do_sample: greedy search gives the same answer every time');
  const tokenizer = await loadTrainingTokenizer(o.baseline, { addEotToken: o.addEotToken, eotToken: o.eotToken });
  const gen: GenerationConfig = {
    maxNewTokens: o.maxNewTokens ?? 100,
    doSample: o.doSample ?? false,
    topK: o.topK,
    topP: o.topP,
    temperature: o.temperature,
    repetitionPenalty: o.repetitionPenalty,
    seed: o.seed ?? 1234,
  };
  const models: CausalLM[] = [];
  try {
    for (const dir of [o.baseline, o.finetune]) {
      const m = await loadModelForTraining(dir, { tokenizer, log: o.log });
      m.eval();
      models.push(m);
    }
    const rows: PromptEvalRow[] = [];
    for (const [i, prompt] of prompts.entries()) {
      const row = { prompt, baseline: await answer(models[0], tokenizer, prompt, gen, n), finetune: await answer(models[1], tokenizer, prompt, gen, n) };
      rows.push(row);
      onRow?.(row, i);
    }
    return rows;
  } finally {
    for (const m of models) m.dispose();
  }
}

/** DeepSpeed-Chat's printout: a Baseline block, a finetune block, then a separator. */
export function formatBlocks(row: PromptEvalRow, mode = 'Greedy'): string {
  const block = (outs: string[]): string => outs.map((o) => `\n${o}\n`).join('\n');
  return [
    `==========Baseline: ${mode}=========`,
    block(row.baseline),
    `==========finetune: ${mode}=========`,
    block(row.finetune),
    '====================prompt end=============================',
    '',
    '',
  ].join('\n');
}

/** Wraps text to `width` columns (words longer than the width are cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      for (let w = word; w.length > 0; ) {
        const piece = w.slice(0, width);
        w = w.slice(width);
        if (line === '') line = piece;
        else if (line.length + 1 + piece.length <= width) line += ` ${piece}`;
        else {
          lines.push(line);
          line = piece;
        }
      }
    }
    lines.push(line);
  }
  return lines;
}

/** Two columns, baseline left and fine-tuned right, `width` characters in all. */
export function formatColumns(row: PromptEvalRow, width = 120): string {
  const col = Math.max(20, Math.floor((width - 3) / 2));
  const strip = (s: string): string => (s.startsWith(row.prompt) ? s.slice(row.prompt.length).trim() : s);
  const left = wrap(row.baseline.map(strip).join('\n---\n'), col);
  const right = wrap(row.finetune.map(strip).join('\n---\n'), col);
  const out = [`PROMPT: ${row.prompt}`, `${'baseline'.padEnd(col)} | fine-tuned`, `${'-'.repeat(col)}-+-${'-'.repeat(col)}`];
  for (let i = 0; i < Math.max(left.length, right.length); i++) out.push(`${(left[i] ?? '').padEnd(col)} | ${right[i] ?? ''}`.trimEnd());
  return out.join('\n') + '\n\n';
}
