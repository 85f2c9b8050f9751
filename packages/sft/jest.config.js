module.exports = { ...require('../../jest.preset.js'), displayName: 'sft', rootDir: __dirname };
