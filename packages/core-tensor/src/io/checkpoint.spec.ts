// Specs for loadStateDict/saveStateDict: HF file preference, sharded write/read, and broken shard layouts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findWeightsFile, loadStateDict, saveStateDict } from './checkpoint';
import { CheckpointError, type TensorToWrite } from './host-tensor';
import { readSafetensorsHeader, writeSafetensors } from './safetensors';
import { parseShardSize, planShards, shardFileName } from './sharding';

const BIN = path.resolve(__dirname, '../../test/fixtures/torch-bin');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-ckpt-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Six F32 tensors of 40 bytes each (10 values), values distinct per tensor. */
function tensors(): Map<string, TensorToWrite> {
  const m = new Map<string, TensorToWrite>();
  for (let i = 0; i < 6; i++) m.set(`layers.${i}.weight`, { shape: [2, 5], data: Float32Array.from({ length: 10 }, (_, j) => i * 100 + j) });
  return m;
}

describe('saveStateDict / loadStateDict', () => {
  test('small weights go to one model.safetensors and load back', () => {
    const res = saveStateDict(tmp, tensors());
    expect(res).toEqual({ files: ['model.safetensors'], totalSize: 240 });
    const sd = loadStateDict(tmp);
    expect(sd.get('layers.3.weight')).toEqual({ dtype: 'F32', shape: [2, 5], data: Float32Array.from({ length: 10 }, (_, j) => 300 + j) });
  });

  test('past maxShardSize: HF shard names, an index with total_size, and the same tensors back', () => {
    const res = saveStateDict(tmp, tensors(), { maxShardSize: 100 }); // 2 tensors (80 B) per shard
    expect(res.files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(fs.readFileSync(path.join(tmp, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata).toEqual({ total_size: 240 });
    expect(index.weight_map['layers.0.weight']).toBe('model-00001-of-00003.safetensors');
    expect(index.weight_map['layers.5.weight']).toBe('model-00003-of-00003.safetensors');
    expect([...readSafetensorsHeader(path.join(tmp, 'model-00002-of-00003.safetensors')).keys()]).toEqual(['layers.2.weight', 'layers.3.weight']);
    const sd = loadStateDict(tmp);
    expect(sd.size).toBe(6);
    for (const [k, t] of tensors()) expect(Array.from(sd.get(k)!.data)).toEqual(Array.from(t.data));
    expect(loadStateDict(path.join(tmp, 'model.safetensors.index.json'), { keys: ['layers.4.weight'] }).size).toBe(1);
  });

  test('dtype converts floats only; re-saving with another layout removes stale weight files', () => {
    const m = tensors();
    m.set('ids', { shape: [2], data: Int32Array.from([5, 6]), dtype: 'I64' });
    saveStateDict(tmp, m, { maxShardSize: '50B', dtype: 'BF16' }); // 20 B per BF16 tensor: 2 per shard, then ids alone
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('model-')).length).toBe(4);
    expect(loadStateDict(tmp).get('ids')).toEqual({ dtype: 'I64', shape: [2], data: Int32Array.from([5, 6]) });
    expect(loadStateDict(tmp).get('layers.0.weight')!.dtype).toBe('BF16');
    fs.writeFileSync(path.join(tmp, 'config.json'), '{}');
    saveStateDict(tmp, m);
    expect(fs.readdirSync(tmp).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  test('HF preference order: model.safetensors over its index over pytorch_model.bin over its index', () => {
    fs.copyFileSync(path.join(BIN, 'param.bin'), path.join(tmp, 'pytorch_model.bin'));
    expect(findWeightsFile(tmp).kind).toBe('pytorch_model.bin');
    expect([...loadStateDict(tmp).keys()]).toEqual(['p']);
    writeSafetensors(path.join(tmp, 'model.safetensors'), new Map([['st', { shape: [1], data: new Float32Array(1) }]]));
    expect(findWeightsFile(tmp).kind).toBe('model.safetensors');
    expect([...loadStateDict(tmp).keys()]).toEqual(['st']);
  });

  test('sharded pytorch_model.bin.index.json written by transformers-style torch.save shards', () => {
    const sd = loadStateDict(path.join(BIN, 'sharded'));
    expect([...sd.keys()]).toEqual(['a.weight', 'b.weight', 'b.bias']);
    expect(sd.get('a.weight')).toEqual({ dtype: 'F32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) });
    expect(Array.from(sd.get('b.bias')!.data)).toEqual([-1]);
  });
});

describe('errors name the folder, file and tensor', () => {
  test('no weights: lists the files looked for and what is there', () => {
    fs.writeFileSync(path.join(tmp, 'config.json'), '{}');
    expect(() => loadStateDict(tmp)).toThrow(CheckpointError);
    expect(() => loadStateDict(tmp)).toThrow(
      `${tmp}: no model weights found; looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json. It holds: config.json.`,
    );
  });

  test('a missing shard file', () => {
    saveStateDict(tmp, tensors(), { maxShardSize: 100 });
    fs.rmSync(path.join(tmp, 'model-00002-of-00003.safetensors'));
    expect(() => loadStateDict(tmp)).toThrow(
      /model\.safetensors\.index\.json: shard 'model-00002-of-00003\.safetensors' \(holding tensor 'layers\.2\.weight' and 1 more\) does not exist at .*incomplete/,
    );
  });

  test('an index naming a tensor its shard lacks', () => {
    saveStateDict(tmp, tensors(), { maxShardSize: 100 });
    const indexFile = path.join(tmp, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    index.weight_map['layers.9.weight'] = 'model-00001-of-00003.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expect(() => loadStateDict(tmp)).toThrow(
      /model-00001-of-00003\.safetensors: the index .*model\.safetensors\.index\.json says tensor 'layers\.9\.weight' is in this shard, but the shard has no such tensor/,
    );
  });

  test('an index with a path-escaping shard name, or without weight_map', () => {
    const indexFile = path.join(tmp, 'model.safetensors.index.json');
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { w: '../../etc/passwd' } }));
    expect(() => loadStateDict(tmp)).toThrow(/weight_map entry 'w' names shard "\.\.\/\.\.\/etc\/passwd"; shards must be plain file names/);
    fs.writeFileSync(indexFile, JSON.stringify({ metadata: {} }));
    expect(() => loadStateDict(tmp)).toThrow(/shard index has no "weight_map" object/);
  });

  test('a name that is neither a folder nor in the hub cache', () => {
    const prev = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = tmp;
    try {
      expect(() => loadStateDict('no-such-org/no-such-model')).toThrow(/cannot load weights: cannot find model 'no-such-org\/no-such-model'/);
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = prev;
    }
  });
});

describe('shard helpers', () => {
  test('parseShardSize uses transformers units', () => {
    expect(parseShardSize('5GB')).toBe(5e9);
    expect(parseShardSize('200MB')).toBe(2e8);
    expect(parseShardSize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseShardSize('10KiB')).toBe(10240);
    expect(parseShardSize(1234)).toBe(1234);
    expect(() => parseShardSize('big')).toThrow(/max shard size 'big' is not understood/);
  });
  test('planShards: a tensor bigger than the limit gets its own shard, order is kept', () => {
    const m = new Map<string, TensorToWrite>([
      ['a', { shape: [10], data: new Float32Array(10) }],
      ['huge', { shape: [100], data: new Float32Array(100) }],
      ['b', { shape: [5], data: new Float32Array(5) }],
      ['c', { shape: [5], data: new Float32Array(5) }],
    ]);
    expect(planShards(m, 50).map((s) => [...s.keys()])).toEqual([['a'], ['huge'], ['b', 'c']]);
    expect(planShards(m, 50, 'F16').map((s) => [...s.keys()])).toEqual([['a'], ['huge'], ['b', 'c']]);
    expect(planShards(m, 1e9).length).toBe(1);
    expect(shardFileName('model.safetensors', 1, 12)).toBe('model-00002-of-00012.safetensors');
  });
});
