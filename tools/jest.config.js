// The tools' own specs (the package READMEs' examples); the tools themselves are scripts run with tsx.
module.exports = { ...require('../jest.preset.js'), displayName: 'tools', rootDir: __dirname, testMatch: ['<rootDir>/readme-examples/**/*.spec.ts'] };
