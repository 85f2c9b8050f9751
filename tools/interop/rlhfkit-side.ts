// The rlhfkit side of the interop check: runs one case folder with rlhfkit and compares it with what transformers recorded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadPretrained, loadTokenizer, readSafetensors, type CausalLM } from '@rlhfkit/core-tensor';
import { loadRewardModel } from '@rlhfkit/reward';
import type { InteropCase } from './build-rlhfkit-folders';

/** Largest |rlhfkit - transformers| a logit or value may differ by. */
export const TOLERANCE = 1e-4;

/** What hf_side.py wrote for one case (DIR/hf-out/<name>.json). */
interface HfResult {
  ok: boolean;
  errors: string[];
  traceback?: string;
  load_info?: Record<string, string[]>;
  load_warnings?: string[];
  run_warnings?: string[];
  body_load_info?: Record<string, string[]>;
  body_load_warnings?: string[];
  hf_class?: string;
  body_class?: string;
  tokenizer_class?: string | null;
  probe: {
    ids: number[][];
    padded_ids: number[][];
    padded_mask: number[][];
    gen_prompts: number[][];
    max_new_tokens: number;
    prompt_length: number;
    texts?: string[];
  };
  gen_single: number[][];
  gen_single_margins: number[][];
  gen_batch_input: { ids: number[][]; mask: number[][] };
  gen_batch: number[][];
  gen_batch_margins: number[][];
  tokens?: { ids: number[][]; decoded: string[]; decoded_skip_special: string[] };
}

export interface Check {
  check: string;
  ok: boolean;
  /** Max abs difference for numeric checks. */
  maxDiff?: number;
  detail?: string;
}

export interface CaseReport {
  name: string;
  origin: InteropCase['origin'];
  what: string;
  checks: Check[];
  ok: boolean;
}

/** Max |a - b| over positions where `keep(row, col)` (rows × cols × inner layout). */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, rows: number, cols: number, keep?: (r: number, c: number) => boolean): number {
  if (a.length !== b.length) return Infinity;
  const inner = a.length / (rows * cols);
  let m = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (keep && !keep(r, c)) continue;
      const o = (r * cols + c) * inner;
      for (let i = 0; i < inner; i++) {
        const d = Math.abs(a[o + i] - b[o + i]);
        if (!(d <= m)) m = d; // NaN propagates as a failure
      }
    }
  }
  return m;
}

function numeric(check: string, diff: number): Check {
  return { check, ok: diff <= TOLERANCE, maxDiff: diff };
}

/** Token-equal generations; on a mismatch says where and how close transformers' top-2 logits were there. */
function sameTokens(check: string, ours: number[][], hf: number[][], margins: number[][]): Check {
  for (let r = 0; r < Math.max(ours.length, hf.length); r++) {
    const a = ours[r] ?? [];
    const b = hf[r] ?? [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (a[i] !== b[i]) {
        const margin = margins[r]?.[i];
        const tie = margin !== undefined ? ` (transformers' top-2 logit margin there: ${margin.toExponential(2)})` : '';
        return { check, ok: false, detail: `row ${r} differs at new token ${i}: rlhfkit [${a.join(',')}] vs transformers [${b.join(',')}]${tie}` };
      }
    }
  }
  const minMargin = Math.min(...margins.flat());
  return { check, ok: true, detail: `${hf.map((r) => r.length).join('+')} tokens; min top-2 margin ${minMargin.toFixed(4)}` };
}

/**
 * transformers 5 prints a "LOAD REPORT" table (`key | UNEXPECTED | ...`) for any key it did not use, 4.x a "Some
 * weights of the model checkpoint ... were not used ...: [keys]" line; one that names only keys we expect (a reward
 * model's v_head.weight) is not a problem.
 */
function onlyAllowed(warning: string, allowUnexpected: string[]): boolean {
  const v4 = /were not used when initializing \w+: \[([^\]]*)\]/.exec(warning);
  if (v4 && !/newly initiali[sz]ed/.test(warning)) {
    const keys = v4[1].split(',').map((k) => k.trim().replace(/^'|'$/g, ''));
    return keys.every((k) => allowUnexpected.includes(k));
  }
  if (!/LOAD REPORT/.test(warning)) return false;
  const rows = [...warning.matchAll(/^\s*([^|\n]+?)\s*\|\s*([A-Z_]+)\s*\|/gm)].filter((m) => m[2] !== 'Status');
  return rows.length > 0 && rows.every((m) => m[2] === 'UNEXPECTED' && allowUnexpected.includes(m[1]));
}

function loadInfoCheck(check: string, info: Record<string, string[]> | undefined, warnings: string[] | undefined, allowUnexpected: string[]): Check {
  if (!info) return { check, ok: false, detail: 'no loading info' };
  const bad: string[] = [];
  for (const key of ['missing_keys', 'unexpected_keys', 'mismatched_keys', 'error_msgs']) {
    const v = (info[key] ?? []).filter((k) => !(key === 'unexpected_keys' && allowUnexpected.includes(k)));
    if (v.length) bad.push(`${key}: ${v.slice(0, 6).join(', ')}${v.length > 6 ? ` (+${v.length - 6})` : ''}`);
  }
  const warn = (warnings ?? []).filter((w) => /missing|unexpected|newly initiali[sz]ed|not used|mismatch|LOAD REPORT/i.test(w) && !onlyAllowed(w, allowUnexpected));
  if (warn.length) bad.push(`warnings: ${warn.map((w) => w.split('\n')[0]).join(' | ')}`);
  const expected = (warnings ?? []).filter((w) => onlyAllowed(w, allowUnexpected));
  const other = (warnings ?? []).filter((w) => !warn.includes(w) && !expected.includes(w));
  const notes = [
    ...(expected.length ? [`unused as expected: ${allowUnexpected.join(', ')}`] : []),
    ...(other.length ? [`other warnings: ${other.map((w) => w.split('\n')[0].slice(0, 160)).join(' | ')}`] : []),
  ];
  const note = notes.length ? notes.join('; ') : undefined;
  return { check, ok: bad.length === 0, detail: bad.length ? bad.join('; ') : note };
}

async function logitsChecks(model: CausalLM, hf: HfResult, ref: Map<string, Float32Array>): Promise<Check[]> {
  const p = hf.probe;
  const a = model.forward({ inputIds: p.ids });
  const ours = a.dataSync().slice();
  a.dispose();
  const b = model.forward({ inputIds: p.padded_ids, attentionMask: p.padded_mask });
  const oursPadded = b.dataSync().slice();
  b.dispose();
  const rows = p.padded_ids.length;
  const cols = p.padded_ids[0].length;
  return [
    numeric('logits', maxDiff(ours, ref.get('logits')!, p.ids.length, p.ids[0].length)),
    numeric('logits, left-padded batch (real positions)', maxDiff(oursPadded, ref.get('padded_logits')!, rows, cols, (r, c) => p.padded_mask[r][c] === 1)),
  ];
}

async function generationChecks(model: CausalLM, hf: HfResult): Promise<Check[]> {
  const p = hf.probe;
  const singles: number[][] = [];
  for (const prompt of p.gen_prompts) singles.push((await model.generate(prompt, { maxNewTokens: p.max_new_tokens, doSample: false })).newTokens[0]);
  const batch = await model.generate({ inputIds: hf.gen_batch_input.ids, attentionMask: hf.gen_batch_input.mask }, { maxNewTokens: p.max_new_tokens, doSample: false });
  return [
    sameTokens(`greedy generate x${p.gen_prompts.length} (${p.max_new_tokens} new)`, singles, hf.gen_single, hf.gen_single_margins),
    sameTokens('greedy generate, left-padded batch', batch.newTokens, hf.gen_batch, hf.gen_batch_margins),
  ];
}

async function tokenizerChecks(dir: string, hf: HfResult): Promise<Check[]> {
  if (!hf.tokens || !hf.probe.texts) return [];
  const tok = await loadTokenizer(dir);
  const texts = hf.probe.texts;
  const out: Check[] = [];
  const idsBad: string[] = [];
  const decBad: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const ids = await tok.encode(texts[i]);
    if (JSON.stringify(ids) !== JSON.stringify(hf.tokens.ids[i])) {
      idsBad.push(`text ${i} ${JSON.stringify(texts[i].slice(0, 30))}: rlhfkit [${ids.slice(0, 12).join(',')}${ids.length > 12 ? ',…' : ''}] (${ids.length}) vs transformers [${hf.tokens.ids[i].slice(0, 12).join(',')}${hf.tokens.ids[i].length > 12 ? ',…' : ''}] (${hf.tokens.ids[i].length})`);
    }
    const dec = await tok.decode(hf.tokens.ids[i]);
    const decSkip = await tok.decode(hf.tokens.ids[i], { skipSpecialTokens: true });
    if (dec !== hf.tokens.decoded[i]) decBad.push(`text ${i}: rlhfkit ${JSON.stringify(dec)} vs transformers ${JSON.stringify(hf.tokens.decoded[i])}`);
    if (decSkip !== hf.tokens.decoded_skip_special[i]) decBad.push(`text ${i} (skip special): rlhfkit ${JSON.stringify(decSkip)} vs transformers ${JSON.stringify(hf.tokens.decoded_skip_special[i])}`);
  }
  out.push({ check: `tokenizer ids x${texts.length} (unicode, spaces, specials)`, ok: idsBad.length === 0, detail: idsBad.join('; ') || `${hf.tokenizer_class}` });
  out.push({ check: 'tokenizer decode', ok: decBad.length === 0, detail: decBad.join('; ') || undefined });
  return out;
}

async function rewardChecks(dir: string, hf: HfResult, ref: Map<string, Float32Array>): Promise<Check[]> {
  const p = hf.probe;
  const rm = await loadRewardModel(dir);
  try {
    const v = rm.forwardValue(p.ids, undefined, p.prompt_length).values.flat();
    const vp = rm.forwardValue(p.padded_ids, p.padded_mask, p.prompt_length).values.flat();
    const rows = p.padded_ids.length;
    const cols = p.padded_ids[0].length;
    return [
      loadInfoCheck(`transformers AutoModel (${hf.body_class}) loads the body`, hf.body_load_info, hf.body_load_warnings, ['v_head.weight']),
      numeric('v_head(last_hidden_state) vs forwardValue values', maxDiff(Float32Array.from(v), ref.get('values')!, p.ids.length, p.ids[0].length)),
      numeric('... left-padded batch (real positions)', maxDiff(Float32Array.from(vp), ref.get('padded_values')!, rows, cols, (r, c) => p.padded_mask[r][c] === 1)),
    ];
  } finally {
    rm.dispose();
  }
}

/** Runs every check of one case; a thrown error becomes a failed check naming it. */
export async function checkCase(c: InteropCase, hfOut: string): Promise<CaseReport> {
  const report: CaseReport = { name: c.name, origin: c.origin, what: c.what, checks: [], ok: false };
  const jsonFile = path.join(hfOut, `${c.name}.json`);
  if (!fs.existsSync(jsonFile)) {
    report.checks.push({ check: 'transformers ran', ok: false, detail: `no ${jsonFile}` });
    return report;
  }
  const hf = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as HfResult;
  if (!hf.ok) {
    report.checks.push({ check: 'transformers loads and runs the folder', ok: false, detail: `${hf.errors.join('; ')}\n${hf.traceback ?? ''}` });
    return report;
  }
  const ref = new Map<string, Float32Array>();
  for (const [k, t] of readSafetensors(path.join(hfOut, `${c.name}.safetensors`))) ref.set(k, t.data as Float32Array);
  const allow = c.kind === 'reward' ? ['v_head.weight'] : [];
  if (c.origin === 'rlhfkit') report.checks.push(loadInfoCheck(`transformers from_pretrained (${hf.hf_class})`, hf.load_info, hf.load_warnings, allow));
  const runWarnings = [...new Set((hf.run_warnings ?? []).map((w) => w.split('\n')[0].slice(0, 200)))];
  if (runWarnings.length) report.checks.push({ check: 'transformers warnings while running (informational)', ok: true, detail: runWarnings.join(' | ') });
  const step = async (name: string, f: () => Promise<Check[]>): Promise<void> => {
    try {
      report.checks.push(...(await f()));
    } catch (e) {
      report.checks.push({ check: name, ok: false, detail: `threw ${(e as Error).stack?.split('\n').slice(0, 4).join(' / ')}` });
    }
  };
  let model: CausalLM | null = null;
  try {
    model = await loadPretrained(c.dir);
    const extra = model.unexpectedKeys.filter((k) => !allow.includes(k));
    const hfNote = c.origin === 'transformers' ? transformersNote(hf) : '';
    report.checks.push({ check: 'rlhfkit loadPretrained', ok: extra.length === 0, detail: extra.length ? `unexpected keys: ${extra.join(', ')}` : hfNote || undefined });
  } catch (e) {
    report.checks.push({ check: 'rlhfkit loadPretrained', ok: false, detail: `threw ${(e as Error).message}` });
  }
  if (model) {
    const m = model;
    try {
      await step('logits', () => logitsChecks(m, hf, ref));
      await step('generate', () => generationChecks(m, hf));
    } finally {
      m.dispose();
    }
  }
  await step('tokenizer', () => tokenizerChecks(c.dir, hf));
  if (c.kind === 'reward') await step('reward', () => rewardChecks(c.dir, hf, ref));
  report.ok = report.checks.every((k) => k.ok);
  if (tf.memory().numTensors > 50) report.checks.push({ check: 'tensors left', ok: true, detail: `${tf.memory().numTensors} tensors alive after the case` });
  return report;
}

/** What transformers itself said about a folder it made (informational: not rlhfkit's doing). */
function transformersNote(hf: HfResult): string {
  const info = hf.load_info ?? {};
  const parts = Object.entries(info).filter(([, v]) => v.length).map(([k, v]) => `${k}: ${v.join(', ')}`);
  return parts.length ? `(transformers itself reports on its own folder: ${parts.join('; ')})` : '';
}
