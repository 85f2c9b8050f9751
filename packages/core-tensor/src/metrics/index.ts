// Metrics: metrics.jsonl logging, TensorBoard event files, console progress, SVG charts.
export * from './metrics-logger';
export * from './tfevents';
export * from './progress';
export * from './plot-svg';
