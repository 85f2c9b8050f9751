// ES module use of the installed (CommonJS) packages: named imports from every entry through Node's CommonJS interop.
import assert from 'node:assert/strict';
import { createTinyModel, generate, initBackend, loadPretrained, loadTokenizer, VERSION } from '@rlhfkit/core-tensor';
import { runCli, generateCommand } from '@rlhfkit/core-tensor/cli';
import { ZipArchive, setWasmFastPaths } from '@rlhfkit/core-tensor/internals';
import { builtinAdapters, createStepDatasets, DataError } from '@rlhfkit/data';
import { SftTrainer, resolveSftConfig } from '@rlhfkit/sft';
import { sftCommand } from '@rlhfkit/sft/cli';
import { RewardModel, RewardTrainer, loadRewardModel } from '@rlhfkit/reward';
import { DpoTrainer } from '@rlhfkit/dpo';
import { PpoTrainer, computeRewards } from '@rlhfkit/ppo';
import { ChatSession, createServer } from '@rlhfkit/chat';
import { runPipeline } from '@rlhfkit/deploy';
import { trainCommand } from '@rlhfkit/deploy/cli';
import { commands } from '@rlhfkit/cli';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

for (const [name, v] of Object.entries({
  createTinyModel, generate, initBackend, loadPretrained, loadTokenizer, runCli, ZipArchive, setWasmFastPaths, createStepDatasets,
  DataError, SftTrainer, resolveSftConfig, RewardModel, RewardTrainer, loadRewardModel, DpoTrainer, PpoTrainer, computeRewards, ChatSession,
  createServer, runPipeline,
})) assert.equal(typeof v, 'function', `${name} is not a function`);
for (const c of [generateCommand, sftCommand, trainCommand]) assert.equal(typeof c.command, 'string');
assert.equal(VERSION, '0.1.0');
assert.ok(Array.isArray(builtinAdapters) && builtinAdapters.length > 10);
assert.ok(commands.length >= 10);

// Chosen explicitly this time, then used with top-level await.
const info = await initBackend({ backend: 'cpu', quiet: true });
assert.equal(info.name, 'cpu');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-esm-'));
try {
  await createTinyModel(dir, { hiddenSize: 32, layers: 1, heads: 2, merges: 300 });
  const model = await loadPretrained(dir);
  const tokenizer = await loadTokenizer(dir);
  const out = await generate(model, [await tokenizer.encode('Once upon')], { maxNewTokens: 3 });
  console.log(`   ${Object.keys(await import('@rlhfkit/core-tensor')).length} named exports of @rlhfkit/core-tensor visible to ESM; backend ${info.name}; generated ${out.newTokens[0].length} tokens`);
  model.dispose();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
