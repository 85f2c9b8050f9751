// Public API of @rlhfkit/ppo (being built).
export {};
