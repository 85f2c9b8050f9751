// Shared jest settings: TypeScript through @swc/jest, workspace packages mapped to their sources.
const path = require('node:path');
const root = __dirname;
const packages = ['core-tensor', 'data', 'sft', 'reward', 'dpo', 'ppo', 'chat', 'deploy'];
const moduleNameMapper = {};
for (const p of packages) {
  moduleNameMapper[`^@rlhfkit/${p}$`] = path.join(root, 'packages', p, 'src', 'index.ts');
  moduleNameMapper[`^@rlhfkit/${p}/cli$`] = path.join(root, 'packages', p, 'src', 'cli.ts');
}
moduleNameMapper['^@rlhfkit/core-tensor/internals$'] = path.join(root, 'packages', 'core-tensor', 'src', 'internals.ts');

// The packages' manifests point at their build (dist/); processes that specs spawn through tsx map @rlhfkit/* to the
// sources with the root tsconfig.json's paths, found through this variable whatever their working directory.
process.env.TSX_TSCONFIG_PATH = path.join(root, 'tsconfig.json');

// Commands default to every CPU (core-tensor's initBackend); tests, and the commands they spawn, keep to one thread
// unless a spec asks for more, so parallel jest workers do not oversubscribe the cores.
if (process.env.RLHFKIT_THREADS == null || process.env.RLHFKIT_THREADS === '') process.env.RLHFKIT_THREADS = '1';

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  moduleNameMapper,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  testTimeout: 120000,
};
