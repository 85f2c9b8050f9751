// Public surface of the backend module: choosing and starting a backend, and the wasm kernel fixes.
export {
  BACKEND_CHOICES, currentBackendInfo, initBackend,
  type BackendChoice, type BackendInfo, type BackendName, type InitBackendOptions,
} from './init-backend';
export { registerWasmKernels, type WasmKernelReport } from './wasm-kernels';
export { backendCliOptions, type BackendCliArgs } from './cli-options';
export { setWasmFastPaths, wasmFastPaths, type WasmFastPath } from './fast-paths';
export { configureNativeMatMul, nativeMatMulStatus, type NativeMatMulStatus } from './native-gemm';
