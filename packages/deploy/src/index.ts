// Public API of @rlhfkit/deploy (being built).
export {};
