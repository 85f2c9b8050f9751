// Public surface of generation: generate(), its config and the host-side logits processors.
export * from './generate';
export * from './generation-config';
export * from './logits-processors';
