module.exports = { ...require('../../jest.preset.js'), displayName: 'core-tensor', rootDir: __dirname };
