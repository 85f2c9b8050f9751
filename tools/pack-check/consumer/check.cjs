// Plain CommonJS use of the installed packages: every entry loads, commands only at ./cli, the library starts its own
// backend (nobody calls initBackend), a model is created, saved, loaded, generates and is scored as a reward model.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

for (const name of ['core-tensor', 'data', 'sft', 'reward', 'dpo', 'ppo', 'chat', 'deploy']) {
  const lib = require(`@rlhfkit/${name}`);
  const cli = require(`@rlhfkit/${name}/cli`);
  const commandsAtRoot = Object.keys(lib).filter((k) => k.endsWith('Command'));
  assert.deepEqual(commandsAtRoot, [], `@rlhfkit/${name} exports commands from its library entry`);
  assert.ok(Object.keys(cli).some((k) => k.endsWith('Command')), `@rlhfkit/${name}/cli exports no command`);
  console.log(`   @rlhfkit/${name}: ${Object.keys(lib).length} exports at '.', ${Object.keys(cli).length} at './cli'`);
}
assert.equal(typeof require('@rlhfkit/core-tensor/internals').ZipArchive, 'function');
assert.ok(require('@rlhfkit/cli').commands.length >= 10);

const { createTinyModel, currentBackendInfo, generate, loadPretrained, loadTokenizer } = require('@rlhfkit/core-tensor');
const { loadRewardModel, scoreAnswers } = require('@rlhfkit/reward');

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-cjs-'));
  try {
    assert.equal(currentBackendInfo(), null, 'no backend has been chosen yet');
    await createTinyModel(dir, { hiddenSize: 32, layers: 2, heads: 2, merges: 400 });
    const model = await loadPretrained(dir);
    const tokenizer = await loadTokenizer(dir);
    const out = await generate(model, [await tokenizer.encode('Hello there')], { maxNewTokens: 5 });
    assert.equal(out.newTokens[0].length, 5);
    console.log(`   started by the library: backend ${currentBackendInfo().name}; generated ${JSON.stringify(await tokenizer.decode(out.newTokens[0]))}`);
    const rm = await loadRewardModel(dir, { initValueHead: 'linear' });
    const [scored] = await scoreAnswers(rm, tokenizer, [{ prompt: 'Human: hi Assistant:', answer: ' hello' }]);
    assert.ok(Number.isFinite(scored.score));
    console.log(`   reward model score ${scored.score.toFixed(4)}`);
    model.dispose();
    rm.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
