// `dpo eval` as a function: a trained policy against its reference on the eval split, and optionally the AFINN valence of their answers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelForTraining, loadTrainingTokenizer, readRunConfig, resolveModelDir, RUN_CONFIG_FILE, type CausalLM } from '@rlhfkit/core-tensor';
import { createStepDatasets } from '@rlhfkit/data';
import { DPO_DEFAULTS } from './config';
import { evaluateDpo, type DpoEvalResult } from './evaluate';
import { answerValence, heldOutPrompts, type ValenceReport } from './valence';

export interface DpoEvalRunOptions {
  /** The trained policy (a `dpo train` output folder, or any causal LM folder). */
  model: string;
  /** The reference; default: the one recorded in the policy folder's rlhfkit_config.json. */
  reference?: string;
  dataPath?: string[];
  dataSplit?: string;
  dataDir?: string;
  dataOutputPath?: string;
  seed?: number;
  maxSeqLen?: number;
  batchSize?: number;
  beta?: number;
  labelSmoothing?: number;
  addEotToken?: boolean;
  eotToken?: string;
  /** Greedy answers of both models to this many held-out prompts (the test split of dataPath[0]) for the AFINN measure; 0 = none. */
  afinnPrompts?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
  log?: (line: string) => void;
}

export interface DpoEvalReport {
  policy: string;
  reference: string;
  eval: DpoEvalResult;
  /** With afinnPrompts > 0: the reference's and the policy's greedy answers and their valence. */
  afinn?: { reference: ValenceReport; policy: ValenceReport };
}

/** The reference a DPO output folder was trained against (from its rlhfkit_config.json), or null when it does not say. */
export function recordedReference(policyDir: string): string | null {
  const dir = resolveModelDir(policyDir);
  if (!fs.existsSync(path.join(dir, RUN_CONFIG_FILE))) return null;
  const { config } = readRunConfig(dir);
  const ref = config.referenceModelNameOrPath ?? config.modelNameOrPath;
  return typeof ref === 'string' && ref !== '' ? ref : null;
}

/** Loads both models with the policy's tokenizer (DeepSpeed-Chat's set-up), evaluates on the eval split, and answers held-out prompts. */
export async function runDpoEval(o: DpoEvalRunOptions): Promise<DpoEvalReport> {
  const log = o.log ?? (() => undefined);
  const reference = o.reference ?? recordedReference(o.model);
  if (!reference) {
    throw new Error(`${o.model} has no ${RUN_CONFIG_FILE} naming its reference model; pass --reference_model_name_or_path (for DPO: the step-1 folder it started from)`);
  }
  const d = DPO_DEFAULTS;
  const tokenizer = await loadTrainingTokenizer(o.model, { addEotToken: o.addEotToken, eotToken: o.eotToken ?? d.eotToken });
  const pad = tokenizer.padTokenId;
  if (pad === undefined) throw new Error(`${o.model}: the tokenizer has no pad token; DPO's label mask needs one`);
  const models: CausalLM[] = [];
  try {
    for (const dir of [o.model, reference]) models.push((await loadModelForTraining(dir, { tokenizer, log })).eval());
    const [policy, ref] = models;
    const maxSeqLen = o.maxSeqLen ?? Math.min(d.maxSeqLen, policy.config.maxPositions);
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
      batchSize: o.batchSize ?? d.perDeviceEvalBatchSize, padTokenId: pad, maxSeqLen, beta: o.beta ?? d.beta, labelSmoothing: o.labelSmoothing ?? d.labelSmoothing,
    });
    const report: DpoEvalReport = { policy: o.model, reference, eval: result };
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
