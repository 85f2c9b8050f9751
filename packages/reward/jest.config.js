module.exports = { ...require('../../jest.preset.js'), displayName: 'reward', rootDir: __dirname };
