module.exports = { ...require('../../jest.preset.js'), displayName: 'dpo', rootDir: __dirname };
