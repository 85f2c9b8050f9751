#!/usr/bin/env bash
# Packs every rlhfkit package, installs the tarballs into a fresh project and uses them as a new user would: plain node
# (CommonJS), an ES module, a strict tsc consumer (node16 and bundler resolution), each package README's library example,
# and the installed `rlhfkit` bin (no tsx). Usage: tools/pack-check/run.sh [WORK_DIR] (default: a new temp folder).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tools/pack-check"
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/rlhfkit-pack-check-XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PACKAGES=(packages/core-tensor packages/data packages/sft packages/reward packages/dpo packages/ppo packages/chat packages/deploy apps/rlhfkit)
say() { printf '\n== %s\n' "$*"; }
elapsed() { local t=$SECONDS rc=0; "$@" || rc=$?; echo "   ($((SECONDS - t)) s)"; return $rc; }

say "build (nx run-many -t build)"
cd "$ROOT"
elapsed env NX_DAEMON=false NX_NO_CLOUD=true npx nx run-many -t build --outputStyle=static >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }

say "pack -> $WORK/tarballs"
rm -rf "$WORK/tarballs" && mkdir -p "$WORK/tarballs"
for p in "${PACKAGES[@]}"; do
  (cd "$ROOT/$p" && npm pack --silent --json --pack-destination "$WORK/tarballs" >"$WORK/tarballs/$(basename "$p").json")
done
node "$HERE/summarize-packs.cjs" "$WORK/tarballs"

say "fresh project: npm install of the tarballs (third-party dependencies from the registry)"
APP="$WORK/app"
rm -rf "$APP" && mkdir -p "$APP"
cp "$HERE"/consumer/* "$APP"/
TS_VERSION=$(node -p "require('$ROOT/node_modules/typescript/package.json').version")
NODE_TYPES=$(node -p "require('$ROOT/node_modules/@types/node/package.json').version")
cd "$APP"
printf '{ "name": "rlhfkit-pack-check", "version": "1.0.0", "private": true }\n' >package.json
elapsed npm install --no-audit --no-fund --loglevel=error "$WORK"/tarballs/*.tgz "typescript@$TS_VERSION" "@types/node@$NODE_TYPES" >"$WORK/install.log" 2>&1 || { tail -40 "$WORK/install.log"; exit 1; }
if [ -e node_modules/tsx ]; then echo "tsx got installed: the packed program must not need it"; exit 1; fi
echo "   installed: $(ls node_modules/@rlhfkit | tr '\n' ' ')(no tsx)"
export RLHFKIT_THREADS=${RLHFKIT_THREADS:-1}

say "plain node (CommonJS require)"
elapsed node check.cjs

say "ES module (import from .mjs)"
elapsed node check.mjs

say "tsc, strict, module node16 (CommonJS check.cts + ESM check.mts), skipLibCheck on (as tfjs needs) and off"
elapsed npx tsc -p tsconfig.node16.json
elapsed node tsc-check.cjs tsconfig.node16-libcheck.json
say "tsc, strict, moduleResolution bundler"
elapsed npx tsc -p tsconfig.bundler.json

say "each package README's library example, verbatim, from the installed package"
elapsed node readme-examples.mjs

say "the installed rlhfkit bin"
BIN=$(readlink -f node_modules/.bin/rlhfkit)
echo "   node_modules/.bin/rlhfkit -> ${BIN#$APP/}"
npx rlhfkit --help | head -6
elapsed npx rlhfkit init-model --out tiny --hidden_size 32 --layers 2 --heads 2 --merges 400
elapsed npx rlhfkit generate --model tiny --prompt "Hello there" --max_new_tokens 6 --json

say "pack-check passed ($WORK)"
