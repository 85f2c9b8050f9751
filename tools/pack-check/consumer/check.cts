// A strict TypeScript consumer (CommonJS under module node16): the packages' .d.ts files type what a user writes.
import { createTinyModel, generate, initBackend, loadPretrained, loadTokenizer, type BackendInfo, type CausalLM, type GenerateOutput } from '@rlhfkit/core-tensor';
import type { CommandModule } from 'yargs';
import { generateCommand } from '@rlhfkit/core-tensor/cli';
import { ZipArchive } from '@rlhfkit/core-tensor/internals';
import { createStepDatasets, type RawRow } from '@rlhfkit/data';
import { SftTrainer, type SftConfig, type SftResult, type SftTrainerOptions } from '@rlhfkit/sft';
import { sftCommand } from '@rlhfkit/sft/cli';
import { RewardTrainer, loadRewardModel, type RewardConfig, type RewardTrainResult, type RewardTrainerOptions } from '@rlhfkit/reward';
import { DpoTrainer, type DpoConfig, type DpoResult, type DpoTrainerOptions } from '@rlhfkit/dpo';
import { PpoTrainer, type PpoConfig, type PpoResult, type PpoTrainerOptions } from '@rlhfkit/ppo';
import { ChatSession } from '@rlhfkit/chat';
import { runPipeline } from '@rlhfkit/deploy';

// The options every trainer shares have the same names and types.
type Shared = 'log' | 'stopAfterSteps' | 'onStep' | 'handleSignals' | 'progressStream' | 'outputDirClaim';
const shared: Pick<SftTrainerOptions, Exclude<Shared, 'onStep'>> = { log: (line: string) => console.log(line), stopAfterSteps: 2, handleSignals: false };
const sftOptions: SftTrainerOptions = { ...shared, onStep: (info) => console.log(info.step, info.loss) };
const rewardOptions: RewardTrainerOptions = { ...shared, onStep: (info) => console.log(info.step, info.loss) };
const dpoOptions: DpoTrainerOptions = { ...shared, onStep: (info) => console.log(info.step, info.loss) };
const ppoOptions: PpoTrainerOptions = { ...shared, onStep: (info) => console.log(info.step) };

async function main(): Promise<void> {
  const info: BackendInfo = await initBackend({ backend: 'cpu', quiet: true });
  await createTinyModel('tiny', { hiddenSize: 32 });
  const model: CausalLM = await loadPretrained('tiny');
  const tokenizer = await loadTokenizer('tiny');
  const out: GenerateOutput = await generate(model, [await tokenizer.encode('hi')], { maxNewTokens: 2 });
  const sftConfig: Partial<SftConfig> = { modelNameOrPath: 'tiny', dataPath: ['rlhfkit/demo'], outputDir: 'out/sft' };
  const sft = await SftTrainer.create(sftConfig, sftOptions);
  const sftResult: SftResult = await sft.train();
  const losses: Map<number, number> = sftResult.losses;
  const rewardConfig: Partial<RewardConfig> & { modelNameOrPath: string } = { modelNameOrPath: 'tiny', dataPath: ['rlhfkit/demo'] };
  const rewardResult: RewardTrainResult = await (await RewardTrainer.create(rewardConfig, rewardOptions)).train();
  const dpoConfig: Partial<DpoConfig> = { modelNameOrPath: 'tiny' };
  const dpoResult: DpoResult = await (await DpoTrainer.create(dpoConfig, dpoOptions)).train();
  const ppoConfig: Partial<PpoConfig> = { actorModelNameOrPath: 'tiny', criticModelNameOrPath: 'tiny' };
  const ppoResult: PpoResult = await (await PpoTrainer.create(ppoConfig, ppoOptions)).train();
  const rows: RawRow[] = [];
  const commands: CommandModule<object, any>[] = [generateCommand, sftCommand];
  console.log(info.name, out.newTokens, losses.size, rewardResult.rewardEvals.length, dpoResult.dpoEvals.length, ppoResult.savedTo, rows, commands.length);
  console.log(typeof ZipArchive, typeof createStepDatasets, typeof loadRewardModel, typeof ChatSession, typeof runPipeline);
}

void main;
