// Public API of @rlhfkit/core-tensor.
export const VERSION = '0.1.0';
