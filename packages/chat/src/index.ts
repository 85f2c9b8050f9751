// Public API of @rlhfkit/chat (being built).
export {};
