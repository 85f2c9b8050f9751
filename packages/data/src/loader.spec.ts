// The batch sampler: per-epoch numpy permutations (seed + epoch), exact resume from a saved state, data-parallel shards.
import { BatchSampler } from './loader';

// numpy: np.random.RandomState(s).shuffle(np.arange(10)) for s = 1234 and 1235.
const PERM_10_SEED_1234 = [7, 2, 9, 1, 0, 8, 4, 5, 6, 3];

describe('BatchSampler', () => {
  it('epoch e is get_shuffle_idx(seed + e) cut into batches; the last batch may be short', () => {
    const s = new BatchSampler(10, { batchSize: 4, seed: 1234 });
    expect(s.batchesPerEpoch).toBe(3);
    expect([s.next(), s.next(), s.next()].map((b) => b.indices)).toEqual([[7, 2, 9, 1], [0, 8, 4, 5], [6, 3]]);
    const e1 = s.next();
    expect(e1.epoch).toBe(1);
    expect(e1.indices).toEqual(s.indicesForEpoch(1).slice(0, 4));
    expect(s.indicesForEpoch(1)).not.toEqual(PERM_10_SEED_1234);
    expect([...s.indicesForEpoch(1)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('resumes exactly from a JSON-serialised state', () => {
    const a = new BatchSampler(23, { batchSize: 5, seed: 7, dropLast: true });
    for (let i = 0; i < 6; i++) a.next(); // into epoch 1
    const saved = JSON.parse(JSON.stringify(a.state()));
    expect(saved).toMatchObject({ epoch: 1, step: 2, size: 23, dropLast: true });
    const b = BatchSampler.restore(saved);
    for (let i = 0; i < 10; i++) expect(b.next()).toEqual(a.next());
  });

  it('without shuffle serves dataset order (an eval sampler)', () => {
    const s = new BatchSampler(5, { batchSize: 2, shuffle: false });
    expect([...s.restOfEpoch()].map((b) => b.indices)).toEqual([[0, 1], [2, 3], [4]]);
    expect(s.epochDone).toBe(true);
  });

  it('shards an epoch across ranks like DistributedSampler (wrap-around padding, stride worldSize)', () => {
    const ranks = [0, 1, 2].map((rank) => new BatchSampler(10, { batchSize: 100, seed: 1234, rank, worldSize: 3 }).next().indices);
    expect(ranks).toEqual([
      [7, 1, 4, 3],
      [2, 0, 5, 7], // padded with the first index again
      [9, 8, 6, 2],
    ]);
  });

  it('rejects impossible settings', () => {
    expect(() => new BatchSampler(0, { batchSize: 1 })).toThrow(/empty dataset/);
    expect(() => new BatchSampler(4, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new BatchSampler(4, { batchSize: 1, rank: 2, worldSize: 2 })).toThrow(/rank 2/);
  });
});
