// Metrics: metrics.jsonl logging, TensorBoard event files, console progress, SVG charts.
export * from './metrics-logger';
export * from './tfevents';
export { crc32c, maskedCrc32c } from './crc32c';
export * from './progress';
export * from './plot-svg';
