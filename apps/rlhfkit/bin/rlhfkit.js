#!/usr/bin/env node
// Entry point of the `rlhfkit` command: runs the TypeScript sources through tsx.
require('tsx/cjs');
require('../src/main.ts');
