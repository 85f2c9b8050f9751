// Training primitives: AdamW, DeepSpeed-Chat parameter groups, LR schedules, clipping, accumulation.
export * from './adamw';
export * from './param-groups';
export * from './lr-schedule';
export * from './grad-clip';
export * from './grad-accum';
export { HOST_MOMENTS_MIN_ELEMENTS } from './adamw-host';
