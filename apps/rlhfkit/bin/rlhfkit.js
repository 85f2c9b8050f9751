#!/usr/bin/env node
// Entry point of the `rlhfkit` command: the compiled program (dist/) when installed from the package, the TypeScript
// sources through tsx inside the rlhfkit checkout (no build step while developing).
const fs = require('node:fs');
const path = require('node:path');

const sources = path.join(__dirname, '..', 'src', 'main.ts');
const workspaceTsconfig = path.join(__dirname, '..', '..', '..', 'tsconfig.json');
if (fs.existsSync(sources) && fs.existsSync(workspaceTsconfig)) {
  // The packages' manifests point at their builds; the workspace tsconfig's paths map @rlhfkit/* to the sources, for
  // this process and for every process it starts (step scripts, workers), whatever their working directory.
  process.env.TSX_TSCONFIG_PATH = workspaceTsconfig;
  require('tsx/cjs');
  require(sources);
} else {
  require('../dist/main.js');
}
