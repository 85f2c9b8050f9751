// Public API of @rlhfkit/dpo (being built).
export {};
