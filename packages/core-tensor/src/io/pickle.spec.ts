// Specs for the restricted pickle VM, on pickles CPython 3.11 wrote (hex below, from pickle.dumps).
import { isPickleGlobal, PickleError, unpickle, type PickleGlobal, type PickleHooks } from './pickle';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

// x = {'a': [1, -2, 300, 70000, 2**40, -2**70], 'b': (1.5, None, True, False), 'c': 'héllo', 'd': b'\x00\xff'}
// pickle.dumps(x, protocol=2).hex() and pickle.dumps(x, protocol=4).hex()
const P2 =
  '80027d71002858010000006171015d7102284b014afeffffff4d2c014a701101008a060000000000018a090000000000000000c065580100000062710328473ff80000000000004e88897471045801000000637105580600000068c3a96c6c6f71065801000000647107635f636f646563730a656e636f64650a7108580300000000c3bf710958060000006c6174696e31710a86710b52710c752e';
const P4 =
  '80049558000000000000007d94288c0161945d94284b014afeffffff4d2c014a701101008a060000000000018a090000000000000000c0658c01629428473ff80000000000004e888974948c0163948c0668c3a96c6c6f948c016494430200ff94752e';
// l = [1]; pickle.dumps([l, l], protocol=2).hex()
const SHARED = '80025d7100285d71014b01616801652e';
// pickle.dumps({'k': 'v'}, protocol=0).hex()
const P0 = '286470300a566b0a70310a56760a70320a732e';

const codecs: PickleGlobal = {
  kind: 'pickle-global',
  module: '_codecs',
  name: 'encode',
  call: (args) => Uint8Array.from(Buffer.from(args[0] as string, 'latin1')),
};
const hooks: PickleHooks = {
  findGlobal(module, name) {
    if (module === '_codecs' && name === 'encode') return codecs;
    throw new Error(`refused ${module}.${name}`);
  },
};

function expectX(v: unknown): void {
  expect(v).toBeInstanceOf(Map);
  const m = v as Map<string, unknown>;
  expect([...m.keys()]).toEqual(['a', 'b', 'c', 'd']);
  expect(m.get('a')).toEqual([1, -2, 300, 70000, 2 ** 40, -(2n ** 70n)]);
  expect(m.get('b')).toEqual([1.5, null, true, false]);
  expect(Object.isFrozen(m.get('b'))).toBe(true); // tuples are immutable
  expect(m.get('c')).toBe('héllo');
  expect(Array.from(m.get('d') as Uint8Array)).toEqual([0, 255]);
}

describe('unpickle', () => {
  test('protocol 2 (with _codecs.encode for bytes)', () => expectX(unpickle(hex(P2), hooks)));
  test('protocol 4 (FRAME, MEMOIZE, SHORT_BINBYTES)', () => expectX(unpickle(hex(P4), hooks)));

  test('memo references give the same object', () => {
    const v = unpickle(hex(SHARED), hooks) as unknown[][];
    expect(v[0]).toBe(v[1]);
    expect(v[0]).toEqual([1]);
  });

  test('a refused global stops the run at the GLOBAL opcode', () => {
    const calls: string[] = [];
    const strict: PickleHooks = {
      findGlobal(m, n) {
        calls.push(`${m}.${n}`);
        throw new Error(`refused ${m}.${n}`);
      },
    };
    expect(() => unpickle(hex(P2), strict)).toThrow('refused _codecs.encode');
    expect(calls).toEqual(['_codecs.encode']);
  });

  test('a global allowed as data only cannot be called', () => {
    const marker: PickleHooks = { findGlobal: (module, name) => ({ kind: 'pickle-global', module, name }) };
    expect(isPickleGlobal(marker.findGlobal('a', 'b'))).toBe(true);
    expect(() => unpickle(hex(P2), marker, 'x.pkl')).toThrow(/x\.pkl: the pickle calls _codecs\.encode, which rlhfkit only accepts as data/);
  });

  test('text-protocol opcodes outside the subset, and truncation, are PickleErrors with a position', () => {
    expect(() => unpickle(hex(P0), hooks, 'p0.pkl')).toThrow(PickleError);
    expect(() => unpickle(hex(P0), hooks, 'p0.pkl')).toThrow(/p0\.pkl: unsupported pickle opcode 0x56 \('V'\).*\(at byte 5 of 19\)/);
    expect(() => unpickle(hex(P2).subarray(0, 40), hooks, 'cut.pkl')).toThrow(/cut\.pkl: the pickle ends early/);
  });
});
