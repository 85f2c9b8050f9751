// @rlhfkit/core-tensor/internals: building blocks rlhfkit uses itself, outside the stable library surface (zip, pickle,
// byte helpers, the wasm kernels and fast-path toggles); they may change between minor versions.
export { ZipArchive, type ZipEntry } from './io/zip';
export { unpickle, PickleError, type PickleGlobal, type PickleHooks } from './io/pickle';
export { decodeLittleEndian, encodeLittleEndian, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './io/host-tensor';
export { crc32c, maskedCrc32c } from './metrics/crc32c';
export { registerWasmKernels, type WasmKernelReport } from './backend/wasm-kernels';
export { setWasmFastPaths, wasmFastPaths, type WasmFastPath } from './backend/fast-paths';
export { configureNativeMatMul, nativeMatMulStatus, type NativeMatMulStatus } from './backend/native-gemm';
