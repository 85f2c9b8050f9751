// Public surface of the backend module: choosing and starting a backend. The wasm kernel fixes and fast-path toggles
// are in ../internals.ts, the --backend/--threads flags in ../cli.ts.
export {
  BACKEND_CHOICES, currentBackendInfo, initBackend,
  type BackendChoice, type BackendInfo, type BackendName, type InitBackendOptions,
} from './init-backend';
export { isHeapExhausted, tensorHeapInfo, WASM_HEAP_LIMIT_BYTES, type TensorHeapInfo } from './heap-info';
