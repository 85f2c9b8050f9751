// `dpo eval` as a function: a trained policy against its reference on the eval split, and optionally the AFINN valence of their answers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkMaxSeqLen, loadModelForTraining, loadTrainingTokenizer, readRunConfig, resolveModelDir, RUN_CONFIG_FILE, type CausalLM } from '@rlhfkit/core-tensor';
import { createStepDatasets } from '@rlhfkit/data';
import { DPO_DEFAULTS } from './config';
import { evaluateDpo, type DpoEvalResult } from './evaluate';
import { answerValence, heldOutPrompts, type ValenceReport } from './valence';

export interface DpoEvalRunOptions {
  /** The trained policy (a `dpo train` output folder, or any causal LM folder). */
  model: string;
  /** The reference; default: the one recorded in the policy folder's rlhfkit_config.json (a `dpo train` output). */
  reference?: string;
  dataPath?: string[];
  dataSplit?: string;
  dataDir?: string;
  dataOutputPath?: string;
  seed?: number;
  maxSeqLen?: number;
  batchSize?: number;
  /** Default: the policy folder's recorded value, else DeepSpeed-Chat's (0.1, 0). */
  beta?: number;
  labelSmoothing?: number;
  addEotToken?: boolean;
  eotToken?: string;
  /** Greedy answers of both models to this many held-out prompts (the test split of dataPath[0]) for the AFINN measure; 0 = none. */
  afinnPrompts?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
  /** Unused checkpoint tensors are an error, not a warning. */
  strict?: boolean;
  log?: (line: string) => void;
}

export interface DpoEvalReport {
  policy: string;
  reference: string;
  beta: number;
  labelSmoothing: number;
  eval: DpoEvalResult;
  /** With afinnPrompts > 0: the reference's and the policy's greedy answers and their valence. */
  afinn?: { reference: ValenceReport; policy: ValenceReport };
}

/** What a `dpo train` output folder records about its run (rlhfkit_config.json): the reference and the loss settings. */
export interface RecordedDpoRun {
  reference: string | null;
  beta: number | null;
  labelSmoothing: number | null;
}

/** The reference and DPO settings a policy folder was trained with, where its rlhfkit_config.json says (nulls otherwise). */
export function recordedDpoRun(policyDir: string): RecordedDpoRun {
  const none: RecordedDpoRun = { reference: null, beta: null, labelSmoothing: null };
  const dir = resolveModelDir(policyDir);
  if (!fs.existsSync(path.join(dir, RUN_CONFIG_FILE))) return none;
  const { step, config } = readRunConfig(dir);
  if (step !== 'dpo') return none;
  const ref = config.referenceModelNameOrPath ?? config.modelNameOrPath;
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return { reference: typeof ref === 'string' && ref !== '' ? ref : null, beta: num(config.beta), labelSmoothing: num(config.labelSmoothing) };
}

/** Loads both models with the policy's tokenizer (DeepSpeed-Chat's set-up), evaluates on the eval split, and answers held-out prompts. */
export async function runDpoEval(o: DpoEvalRunOptions): Promise<DpoEvalReport> {
  const log = o.log ?? (() => undefined);
  const run = recordedDpoRun(o.model);
  const reference = o.reference ?? run.reference;
  if (!reference) {
    throw new Error(`${o.model} has no ${RUN_CONFIG_FILE} of a dpo run naming its reference model; pass --reference_model_name_or_path (for DPO: the step-1 folder it started from)`);
  }
  const d = DPO_DEFAULTS;
  const beta = o.beta ?? run.beta ?? d.beta;
  const labelSmoothing = o.labelSmoothing ?? run.labelSmoothing ?? d.labelSmoothing;
  const tokenizer = await loadTrainingTokenizer(o.model, { addEotToken: o.addEotToken, eotToken: o.eotToken ?? d.eotToken });
  const pad = tokenizer.padTokenId;
  if (pad === undefined) throw new Error(`${o.model}: the tokenizer has no pad token; DPO's label mask needs one`);
  const models: CausalLM[] = [];
  try {
    for (const dir of [o.model, reference]) models.push((await loadModelForTraining(dir, { tokenizer, log, strict: o.strict })).eval());
    const [policy, ref] = models;
    const maxSeqLen = o.maxSeqLen ?? Math.min(d.maxSeqLen, policy.config.maxPositions, ref.config.maxPositions);
    for (const [m, dir] of [[policy, o.model], [ref, reference]] as const) checkMaxSeqLen(maxSeqLen, m, dir, log);
    const data = await createStepDatasets({
      phase: 2,
      dataPath: o.dataPath ?? d.dataPath,
      dataSplit: o.dataSplit ?? d.dataSplit,
      dataDir: o.dataDir ?? d.dataDir,
      seed: o.seed ?? d.seed,
      tokenizer,
      tokenizerName: o.model,
      maxSeqLen,
      dataOutputPath: o.dataOutputPath ?? d.dataOutputPath,
      endOfConversationToken: o.eotToken ?? d.eotToken,
      log,
    });
    const result = evaluateDpo(policy, ref, data.eval, {
      batchSize: o.batchSize ?? d.perDeviceEvalBatchSize, padTokenId: pad, maxSeqLen, beta, labelSmoothing,
    });
    const report: DpoEvalReport = { policy: o.model, reference, beta, labelSmoothing, eval: result };
    if ((o.afinnPrompts ?? 0) > 0) {
      const prompts = await heldOutPrompts((o.dataPath ?? d.dataPath)[0], o.afinnPrompts);
      const a = { maxNewTokens: o.maxNewTokens, repetitionPenalty: o.repetitionPenalty };
      report.afinn = { reference: await answerValence(ref, tokenizer, prompts, a), policy: await answerValence(policy, tokenizer, prompts, a) };
    }
    return report;
  } finally {
    for (const m of models) m.dispose();
  }
}
