// Specs for the dtype conversions: half/bfloat16 rounding against torch/numpy, and every decoder.
import { decodeLittleEndian, encodeLittleEndian, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, CheckpointError } from './host-tensor';

// Produced with Debian python3-torch 1.13.1 / numpy 1.24.2:
//   t = torch.tensor(VALUES, dtype=torch.float32)
//   t.to(torch.float16).view(torch.int16) & 0xffff      (numpy's astype(np.float16) gives the same bits)
//   t.to(torch.bfloat16).view(torch.int16) & 0xffff
const VALUES = [
  0.0, -0.0, 1.0, -2.5, 0.1, 1 / 3, 65504.0, 65519.99, 65520.0, 1e5, 6.1e-5, 5.96e-8, 2.98e-8, 2.9802322387695312e-8, 1e-8,
  1.00048828125, 1.000732421875, 1.0009765625 + 2 ** -11, -3.14159265, Infinity, -Infinity, 3.0e38, -1e20, 1.00390625, 1.005859375, 1e-40,
];
const TORCH_F16_BITS = [
  0, 32768, 15360, 49408, 11878, 13653, 31743, 31743, 31744, 31744, 1023, 1, 0, 0, 0, 15360, 15361, 15362, 49736, 31744, 64512, 31744,
  64512, 15364, 15366, 0,
];
const TORCH_BF16_BITS = [
  0, 32768, 16256, 49184, 15821, 16043, 18304, 18304, 18304, 18371, 14464, 13184, 13056, 13056, 12844, 16256, 16256, 16256, 49225,
  32640, 65408, 32610, 57517, 16256, 16257, 1,
];
// torch: t.to(torch.float16).to(torch.float32).tolist() for the same VALUES.
const TORCH_F16_BACK = [
  0.0, -0.0, 1.0, -2.5, 0.0999755859375, 0.333251953125, 65504.0, 65504.0, Infinity, Infinity, 6.097555160522461e-5, 5.960464477539063e-8,
  0, 0, 0, 1.0, 1.0009765625, 1.001953125, -3.140625, Infinity, -Infinity, Infinity, -Infinity, 1.00390625, 1.005859375, 0,
];

describe('half and bfloat16 rounding', () => {
  test('float32 -> float16 bits match torch, element by element', () => {
    expect(VALUES.map(f32ToF16Bits)).toEqual(TORCH_F16_BITS);
  });
  test('float32 -> bfloat16 bits match torch, element by element', () => {
    expect(VALUES.map(f32ToBf16Bits)).toEqual(TORCH_BF16_BITS);
  });
  test('float16 -> float32 matches torch', () => {
    expect(TORCH_F16_BITS.map(f16BitsToF32)).toEqual(TORCH_F16_BACK);
  });
  test('NaN stays NaN in both directions', () => {
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    const bf = decodeLittleEndian(new Uint8Array(new Uint16Array([f32ToBf16Bits(NaN)]).buffer), 'BF16', 1, 'x');
    expect(Number.isNaN(bf[0])).toBe(true);
  });
  test('bulk encode F16/BF16 equals the scalar conversions', () => {
    const f = Float32Array.from(VALUES);
    expect(Array.from(new Uint16Array(encodeLittleEndian(f, 'F16').slice().buffer))).toEqual(TORCH_F16_BITS);
    expect(Array.from(new Uint16Array(encodeLittleEndian(f, 'BF16').slice().buffer))).toEqual(TORCH_BF16_BITS);
  });
});

describe('decodeLittleEndian', () => {
  function bytesOf(arr: ArrayBufferView, misalign = 0): Uint8Array {
    const src = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    const holder = new Uint8Array(src.length + misalign);
    holder.set(src, misalign);
    return holder.subarray(misalign);
  }
  test.each([0, 1, 3])('every dtype decodes at byte misalignment %i', (mis) => {
    expect(Array.from(decodeLittleEndian(bytesOf(new Float32Array([1.5, -2, 3e-7]), mis), 'F32', 3, 'x'))).toEqual(
      Array.from(new Float32Array([1.5, -2, 3e-7])),
    );
    expect(Array.from(decodeLittleEndian(bytesOf(new Float64Array([0.1, -1e300]), mis), 'F64', 2, 'x'))).toEqual([
      Math.fround(0.1),
      -Infinity, // float64 beyond float32 range rounds to infinity, as torch's .float() does
    ]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Uint16Array([0x3c00, 0xc100, 0x0001]), mis), 'F16', 3, 'x'))).toEqual([1, -2.5, 2 ** -24]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Uint16Array([0x3f80, 0xc020]), mis), 'BF16', 2, 'x'))).toEqual([1, -2.5]);
    expect(Array.from(decodeLittleEndian(bytesOf(new BigInt64Array([0n, -1n, 2147483647n, -2147483648n]), mis), 'I64', 4, 'x'))).toEqual([
      0, -1, 2147483647, -2147483648,
    ]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Int32Array([-7, 9]), mis), 'I32', 2, 'x'))).toEqual([-7, 9]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Int16Array([-32768, 5]), mis), 'I16', 2, 'x'))).toEqual([-32768, 5]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Int8Array([-128, 127]), mis), 'I8', 2, 'x'))).toEqual([-128, 127]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Uint8Array([255, 0]), mis), 'U8', 2, 'x'))).toEqual([255, 0]);
    expect(Array.from(decodeLittleEndian(bytesOf(new Uint8Array([1, 0]), mis), 'BOOL', 2, 'x'))).toEqual([1, 0]);
  });
  test('I64 values outside int32 are an error naming the place, not silent wrap-around', () => {
    expect(() => decodeLittleEndian(bytesOf(new BigInt64Array([1n, 1n << 40n])), 'I64', 2, 'f.safetensors: tensor \'ids\'')).toThrow(
      /f\.safetensors: tensor 'ids': I64 value 1099511627776 at index 1 does not fit in int32/,
    );
  });
  test('a short buffer is a CheckpointError', () => {
    expect(() => decodeLittleEndian(new Uint8Array(7), 'F32', 2, 'w')).toThrow(CheckpointError);
  });
  test('owned F32 bytes are viewed, not copied; borrowed ones are copied', () => {
    const b = new Uint8Array(new Float32Array([1, 2]).buffer);
    expect(decodeLittleEndian(b, 'F32', 2, 'x', true).buffer).toBe(b.buffer);
    expect(decodeLittleEndian(b, 'F32', 2, 'x', false).buffer).not.toBe(b.buffer);
  });
});
