module.exports = { ...require('../../jest.preset.js'), displayName: 'chat', rootDir: __dirname };
