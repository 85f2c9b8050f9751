// pytorch_model.bin reader: torch's zip archive + a pickle VM that accepts only the globals a state dict needs.
import {
  CheckpointError,
  DTYPE_BYTES,
  decodeLittleEndian,
  numel,
  type SafetensorsDtype,
  type StateDict,
} from './host-tensor';
import { isPickleGlobal, PickleError, unpickle, type PickleGlobal } from './pickle';
import { ZipArchive } from './zip';
import { openForRead, readExact } from './file-io';
import * as fs from 'node:fs';

/** torch storage classes -> the dtype of their elements. */
const STORAGE_DTYPES: Readonly<Record<string, SafetensorsDtype>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

interface StorageRef {
  readonly kind: 'storage';
  readonly key: string;
  readonly dtype: SafetensorsDtype;
}

interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
}

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
}

/** The allow-list. Anything else is refused by name before any later opcode could use it. */
function makeGlobals(file: string): (module: string, name: string) => PickleGlobal {
  const g = (module: string, name: string, call?: (args: readonly unknown[]) => unknown): PickleGlobal => ({ kind: 'pickle-global', module, name, call });
  const bad = (what: string): never => {
    throw new CheckpointError(`${file}: malformed checkpoint: ${what}`);
  };
  const rebuildTensor = (args: readonly unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    if (typeof storage !== 'object' || storage === null || (storage as StorageRef).kind !== 'storage') bad('_rebuild_tensor without a storage');
    if (!Number.isSafeInteger(offset) || !isIntList(size) || !isIntList(stride) || size.length !== stride.length) {
      bad('_rebuild_tensor with a bad offset/size/stride');
    }
    return { kind: 'tensor', storage: storage as StorageRef, offset: offset as number, shape: [...(size as number[])], stride: [...(stride as number[])] };
  };
  const allowed = new Map<string, PickleGlobal>([
    ['collections.OrderedDict', g('collections', 'OrderedDict', (args) => {
      const m = new Map<unknown, unknown>();
      if (Array.isArray(args[0])) for (const kv of args[0]) if (Array.isArray(kv)) m.set(kv[0], kv[1]);
      return m;
    })],
    ['torch._utils._rebuild_tensor_v2', g('torch._utils', '_rebuild_tensor_v2', rebuildTensor)],
    ['torch._utils._rebuild_tensor', g('torch._utils', '_rebuild_tensor', rebuildTensor)],
    // A Parameter is its data for our purposes; requires_grad, hooks and extra state are training-time details.
    ['torch._utils._rebuild_parameter', g('torch._utils', '_rebuild_parameter', (args) => args[0])],
    ['torch._utils._rebuild_parameter_with_state', g('torch._utils', '_rebuild_parameter_with_state', (args) => args[0])],
    ['torch._tensor._rebuild_from_type_v2', g('torch._tensor', '_rebuild_from_type_v2', (args) => {
      const [fn, , inner] = args;
      if (!isPickleGlobal(fn) || !fn.call || !Array.isArray(inner)) bad('_rebuild_from_type_v2 with a bad function or arguments');
      return (fn as PickleGlobal).call!(inner as unknown[]);
    })],
    // Types that appear as arguments only; they are values, never called.
    ['torch.Tensor', g('torch', 'Tensor')],
    ['torch.nn.parameter.Parameter', g('torch.nn.parameter', 'Parameter')],
    // Python 3 writes protocol-2 `bytes` as _codecs.encode(str, 'latin1').
    ['_codecs.encode', g('_codecs', 'encode', (args) => {
      if (typeof args[0] !== 'string') bad('_codecs.encode without a string');
      return new Uint8Array(Buffer.from(args[0] as string, args[1] === 'latin1' || args[1] === 'latin-1' ? 'latin1' : 'utf8'));
    })],
  ]);
  for (const s of Object.keys(STORAGE_DTYPES)) allowed.set(`torch.${s}`, g('torch', s));
  return (module, name) => {
    const hit = allowed.get(`${module}.${name}`);
    if (!hit) throw new CheckpointError(`refusing to load ${file}: it references ${module}.${name}, which rlhfkit does not execute`);
    return hit;
  };
}

/** Strides of a contiguous row-major tensor. */
function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Copies a (possibly strided, offset) view of `src` into a new row-major array. */
function gather(src: Float32Array | Int32Array, offset: number, shape: readonly number[], stride: readonly number[]): Float32Array | Int32Array {
  const n = numel(shape);
  const out = src instanceof Float32Array ? new Float32Array(n) : new Int32Array(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = src[at];
    // Odometer increment: bump the last axis, carry into earlier ones.
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        at += stride[d];
        break;
      }
      at -= stride[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

/** The top-level tensors of what torch.save wrote; a {state_dict|model|module: {...}} wrapper is looked through. */
function tensorEntries(root: unknown, file: string): Map<unknown, unknown> {
  if (!(root instanceof Map)) throw new CheckpointError(`${file}: the checkpoint is not a dict of tensors (torch.save of a ${Array.isArray(root) ? 'list' : typeof root}); rlhfkit reads state dicts`);
  const hasTensor = (m: Map<unknown, unknown>): boolean => [...m.values()].some(isTensorRef);
  if (hasTensor(root)) return root;
  for (const k of ['state_dict', 'model', 'module']) {
    const inner = root.get(k);
    if (inner instanceof Map && hasTensor(inner)) return inner;
  }
  return root;
}

/**
 * Reads a torch.save zip checkpoint (pytorch_model.bin) into host tensors without executing any of its code.
 * Storage offsets, non-contiguous strides and storages shared between tensors (tied weights) are honoured.
 */
export function readTorchBin(file: string, keys?: ReadonlySet<string>): StateDict {
  if (!ZipArchive.isZip(file)) {
    const { fd, size } = openForRead(file, 'torch checkpoint');
    const head = size > 0 ? readExact(fd, 0, 1, file, 'magic') : new Uint8Array(1);
    fs.closeSync(fd);
    if (head[0] === 0x80) {
      throw new CheckpointError(
        `${file}: this is a legacy (pre-1.6, non-zip) torch.save file, which rlhfkit does not read; re-save it with a newer torch ` +
          "(torch.save(torch.load(path), path)) or convert it to model.safetensors",
      );
    }
    throw new CheckpointError(`${file}: not a torch checkpoint (torch.save writes a zip archive since torch 1.6)`);
  }
  const zip = ZipArchive.open(file);
  try {
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      const scripted = [...zip.entries.keys()].some((n) => /^[^/]+\/(constants\.pkl|code\/)/.test(n));
      throw new CheckpointError(
        scripted
          ? `${file}: this is a TorchScript archive (torch.jit.save), not a state dict; save model.state_dict() with torch.save instead`
          : `${file}: zip archive without a <name>/data.pkl entry; not a torch.save checkpoint`,
      );
    }
    const prefix = pkls[0].slice(0, -'data.pkl'.length);
    if (zip.entries.has(`${prefix}byteorder`)) {
      const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString('latin1').trim();
      if (order !== 'little') throw new CheckpointError(`${file}: storages are ${order}-endian; rlhfkit reads little-endian checkpoints only`);
    }
    const findGlobal = makeGlobals(file);
    const storages = new Map<string, StorageRef>();
    let root: unknown;
    try {
      root = unpickle(zip.read(pkls[0]), {
        findGlobal,
        persistentLoad(pid) {
          if (!Array.isArray(pid) || pid[0] !== 'storage' || !isPickleGlobal(pid[1]) || typeof pid[2] !== 'string') {
            throw new CheckpointError(`${file}: unsupported persistent id ${JSON.stringify(pid)} (expected ('storage', type, key, location, numel))`);
          }
          const dtype = STORAGE_DTYPES[pid[1].name];
          if (!dtype || pid[1].module !== 'torch') throw new CheckpointError(`${file}: storage type ${pid[1].module}.${pid[1].name} is not supported`);
          const key = pid[2];
          let s = storages.get(key);
          if (!s) storages.set(key, (s = { kind: 'storage', key, dtype }));
          return s;
        },
      }, `${file} (${pkls[0]})`);
    } catch (e) {
      if (e instanceof PickleError) throw new CheckpointError(e.message);
      throw e;
    }

    const decoded = new Map<string, { data: Float32Array | Int32Array; claimed: boolean }>();
    const storageData = (s: StorageRef, tensor: string): { data: Float32Array | Int32Array; claimed: boolean } => {
      let d = decoded.get(s.key);
      if (!d) {
        const entry = `${prefix}data/${s.key}`;
        if (!zip.entries.has(entry)) throw new CheckpointError(`${file}: tensor '${tensor}' uses storage '${s.key}', but the archive has no entry ${entry}`);
        const bytes = zip.read(entry);
        const count = Math.floor(bytes.byteLength / DTYPE_BYTES[s.dtype]);
        d = { data: decodeLittleEndian(bytes, s.dtype, count, `${file}: tensor '${tensor}'`, true), claimed: false };
        decoded.set(s.key, d);
      }
      return d;
    };

    const out: StateDict = new Map();
    for (const [name, value] of tensorEntries(root, file)) {
      if (typeof name !== 'string' || !isTensorRef(value)) continue;
      if (keys && !keys.has(name)) continue;
      const { storage, offset, shape, stride } = value;
      const count = numel(shape);
      if (count === 0) {
        const float = storage.dtype === 'F32' || storage.dtype === 'F64' || storage.dtype === 'F16' || storage.dtype === 'BF16';
        out.set(name, { dtype: storage.dtype, shape, data: float ? new Float32Array(0) : new Int32Array(0) });
        continue;
      }
      const src = storageData(storage, name);
      let last = offset;
      for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
      if (offset < 0 || last >= src.data.length || stride.some((s) => s < 0)) {
        throw new CheckpointError(
          `${file}: tensor '${name}' (shape ${JSON.stringify(shape)}, stride ${JSON.stringify(stride)}, offset ${offset}) reaches element ${last} ` +
            `of storage '${storage.key}', which has ${src.data.length}; the archive is truncated or corrupt`,
        );
      }
      const rowMajor = contiguousStrides(shape);
      const contiguous = shape.every((n, d) => n === 1 || stride[d] === rowMajor[d]);
      let data: Float32Array | Int32Array;
      if (contiguous && offset === 0 && count === src.data.length && !src.claimed) {
        data = src.data; // the common case: one tensor per storage, no copy
        src.claimed = true;
      } else if (contiguous) {
        data = src.data.slice(offset, offset + count);
      } else {
        data = gather(src.data, offset, shape, stride);
      }
      out.set(name, { dtype: storage.dtype, shape, data });
    }
    return out;
  } finally {
    zip.close();
  }
}
