// PpoTrainer over scripted roles: DeepSpeed-Chat's dropping of short answers, the fallback batch, reward shaping, groups.
import type { EngineRoles } from './engine';
import { intFromRows, floatMatrix, type FloatMatrix, type IntMatrix } from './matrix';
import { PpoTrainer, type PpoTrainerSettings } from './ppo-trainer';
import type { ActorRole, CriticRole, LogProbRole, PolicyBatch, RewardRole, RoleMemory, UpdateResult, ValueBatch } from './roles';

const PAD = 0;
const NO_MEMORY: RoleMemory = { parameters: 0, optimizer: 0, peakTensorBytes: 0 };

/** An actor whose generate() returns the next scripted batch; it records what it was asked to train on. */
class ScriptedActor implements ActorRole {
  readonly name = 'actor';
  readonly policyBatches: PolicyBatch[] = [];
  modes: boolean[] = [];
  constructor(private readonly script: number[][][]) {}
  async setTraining(t: boolean): Promise<void> {
    this.modes.push(t);
  }
  async generate(prompts: IntMatrix): Promise<IntMatrix> {
    const next = this.script.shift();
    if (!next) throw new Error('script exhausted');
    expect(next.length).toBe(prompts.shape[0]);
    return intFromRows(next);
  }
  async logProbs(ids: IntMatrix): Promise<FloatMatrix> {
    return floatMatrix(ids.shape[0], ids.shape[1] - 1, -1);
  }
  async trainPolicy(b: PolicyBatch): Promise<UpdateResult> {
    this.policyBatches.push(b);
    return { loss: 0.5, stepped: true };
  }
  async trainLm(): Promise<UpdateResult> {
    return { loss: 2, stepped: true };
  }
  async updateEma(): Promise<boolean> {
    return false;
  }
  async saveModel(): Promise<void> {}
  async saveState(): Promise<void> {}
  async loadState(): Promise<void> {}
  async memory(): Promise<RoleMemory> {
    return NO_MEMORY;
  }
  async dispose(): Promise<void> {}
}

const reference: LogProbRole = {
  name: 'reference',
  setTraining: async () => undefined,
  logProbs: async (ids) => floatMatrix(ids.shape[0], ids.shape[1] - 1, -1.5),
  memory: async () => NO_MEMORY,
  dispose: async () => undefined,
};

/** Scores each row by its number of non-pad answer tokens (so tests can predict them). */
const reward: RewardRole = {
  name: 'reward',
  setTraining: async () => undefined,
  score: async (ids, _mask, p) => {
    const [b, l] = ids.shape;
    return Float32Array.from({ length: b }, (_, i) => {
      let n = 0;
      for (let t = p; t < l; t++) if (ids.data[i * l + t] !== PAD) n++;
      return n;
    });
  },
  memory: async () => NO_MEMORY,
  dispose: async () => undefined,
};

class FlatCritic implements CriticRole {
  readonly name = 'critic';
  readonly batches: ValueBatch[] = [];
  async setTraining(): Promise<void> {}
  async values(ids: IntMatrix): Promise<FloatMatrix> {
    return floatMatrix(ids.shape[0], ids.shape[1] - 1, 0.25);
  }
  async trainValue(b: ValueBatch): Promise<UpdateResult> {
    this.batches.push(b);
    return { loss: 0.1, stepped: true };
  }
  async saveModel(): Promise<void> {}
  async saveState(): Promise<void> {}
  async loadState(): Promise<void> {}
  async memory(): Promise<RoleMemory> {
    return NO_MEMORY;
  }
  async dispose(): Promise<void> {}
}

function trainer(actor: ScriptedActor, extra: Partial<PpoTrainerSettings> = {}, critic: CriticRole | null = new FlatCritic()): { t: PpoTrainer; lines: string[] } {
  const lines: string[] = [];
  const roles: EngineRoles = { actor, reference, critic, reward };
  const t = new PpoTrainer(roles, { padTokenId: PAD, eosTokenIds: [PAD], maxAnswerSeqLen: 4, log: (l) => lines.push(l), ...extra });
  return { t, lines };
}

const prompts = intFromRows([
  [0, 5, 6],
  [7, 8, 9],
]);
const promptMask = intFromRows([
  [0, 1, 1],
  [1, 1, 1],
]);

describe('PpoTrainer.generateExperience (DeepSpeed-Chat semantics)', () => {
  test('drops answers of at most one real token, masks seq != pad, scores with the prompt length', async () => {
    const actor = new ScriptedActor([[[0, 5, 6, 11, 0, 0, 0], [7, 8, 9, 12, 13, 14, 0]]]);
    const { t, lines } = trainer(actor);
    const e = await t.generateExperience(prompts, promptMask, 0);
    expect(e.inputIds.shape).toEqual([1, 7]);
    expect(Array.from(e.inputIds.data)).toEqual([7, 8, 9, 12, 13, 14, 0]);
    expect(Array.from(e.attentionMask.data)).toEqual([1, 1, 1, 1, 1, 1, 0]);
    expect(Array.from(e.rewards)).toEqual([3]);
    expect(e.logprobs.shape).toEqual([1, 6]);
    expect(e.values?.shape).toEqual([1, 6]);
    expect(lines.some((l) => l.startsWith('Dropping 1 too short generated answer'))).toBe(true);
    // eval for generation, then training mode for the experience passes (DeepSpeed-Chat's trainer.eval()/train()).
    expect(actor.modes).toEqual([false, true]);
  });

  test('when every answer is too short, the last usable batch is used again; with none, a clear error', async () => {
    const short = [[0, 5, 6, 11, 0], [7, 8, 9, 0, 0]];
    const first = trainer(new ScriptedActor([short]));
    await expect(first.t.generateExperience(prompts, promptMask, 0)).rejects.toThrow(/no earlier usable batch/);
    const actor = new ScriptedActor([[[0, 5, 6, 11, 12, 0], [7, 8, 9, 21, 22, 23]], short]);
    const { t, lines } = trainer(actor);
    const a = await t.generateExperience(prompts, promptMask, 0);
    const b = await t.generateExperience(prompts, promptMask, 1);
    expect(Array.from(b.inputIds.data)).toEqual(Array.from(a.inputIds.data));
    expect(lines.some((l) => l.includes('reusing the last usable batch'))).toBe(true);
  });

  test('EOS penalty hits only answers that never ended; whitening centres the batch', async () => {
    const seqs = [[0, 5, 6, 11, 12, 13, 14], [7, 8, 9, 21, 22, 0, 0]];
    const pen = await trainer(new ScriptedActor([seqs]), { eosPenalty: 1.5 }).t.generateExperience(prompts, promptMask, 0);
    expect(Array.from(pen.rawScores)).toEqual([4, 2]);
    expect(Array.from(pen.rewards)).toEqual([2.5, 2]);
    const w = await trainer(new ScriptedActor([seqs]), { whitenRewards: true }).t.generateExperience(prompts, promptMask, 0);
    expect(w.rewards[0] + w.rewards[1]).toBeCloseTo(0, 6);
  });

  test('several samples per prompt: rows repeat the prompts and carry their group for the estimator', async () => {
    const seqs = [
      [0, 5, 6, 11, 12, 0],
      [0, 5, 6, 11, 12, 13],
      [7, 8, 9, 21, 22, 0],
      [7, 8, 9, 21, 22, 23],
    ];
    const actor = new ScriptedActor([seqs]);
    const { t } = trainer(actor, { samplesPerPrompt: 2, estimator: 'rloo' }, null);
    const e = await t.generateExperience(prompts, promptMask, 0);
    expect(e.promptIndex).toEqual([0, 0, 1, 1]);
    expect(e.values).toBeNull();
    // scores 2,3 | 2,3: RLOO = r - mean(others)
    expect(Array.from(e.rowAdvantages!)).toEqual([-1, 1, -1, 1]);
    const r = await t.trainRlhf(e);
    expect(r.critic).toBeNull();
    // No KL difference would change the sign: the advantage of the first token of row 1 is positive, of row 0 negative.
    const adv = actor.policyBatches[0].advantages;
    const w = adv.shape[1];
    expect(adv.data[0]).toBeLessThan(0);
    expect(adv.data[w]).toBeGreaterThan(0);
  });

  test('trainRlhf hands the actor and the critic the answer slice from start = P - 1', async () => {
    const actor = new ScriptedActor([[[0, 5, 6, 11, 12, 0], [7, 8, 9, 21, 22, 23]]]);
    const critic = new FlatCritic();
    const { t } = trainer(actor, {}, critic);
    const e = await t.generateExperience(prompts, promptMask, 0);
    const r = await t.trainRlhf(e);
    expect(r.actorLoss).toBe(0.5);
    expect(r.criticLoss).toBe(0.1);
    const pb = actor.policyBatches[0];
    expect(pb.start).toBe(2);
    expect(pb.advantages.shape).toEqual([2, 3]);
    expect(Array.from(pb.actionMask.data)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(critic.batches[0].returns.shape).toEqual([2, 3]);
  });
});
