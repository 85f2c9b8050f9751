// Public surface of the training-run machinery shared by the steps: flags, step loop, run checkpoints, model set-up
// (runCli and the command-tree introspection are in ../cli.ts).
export * from './flags';
export * from './checkpoint';
export * from './output-dir';
export * from './training-task';
export * from './training-loop';
export * from './evaluate';
export * from './model-setup';
export * from './model-options';
export * from './tiny-model';
export * from './model-presets';
export { UsageError } from './cli-errors';
export * from './cli-checks';
export * from './training-config';
export { startPackageWorker } from './worker-thread';
