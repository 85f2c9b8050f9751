// Public surface of the training-run machinery shared by the steps: flags, step loop, run checkpoints, model set-up.
export * from './flags';
export * from './checkpoint';
export * from './output-dir';
export * from './training-task';
export * from './training-loop';
export * from './evaluate';
export * from './model-setup';
export * from './model-options';
export * from './tiny-model';
export * from './cli-main';
export * from './cli-checks';
export * from './cli-introspect';
export * from './training-config';
