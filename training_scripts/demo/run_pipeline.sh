#!/bin/bash
# The rlhfkit pipeline on the built-in demo dataset: `npm run demo -- [OUTPUT] [flags for rlhfkit train]`.
# The same as `npx rlhfkit train --output-dir OUTPUT [flags]` with no model flags: a small random model -> step 1 (SFT) ->
# step 2 (reward model) -> step 3 (PPO; --algorithm grpo|rloo|dpo for the alternatives), each a script beside this one
# (step1_sft.sh, step2_reward.sh, step3_rlhf.sh) logging to its folder's training.log, then the before/after report
# (OUTPUT/report.md). A finished step is not run again (--force reruns); an interrupted one resumes. --quick: CI size.
# Usage: run_pipeline.sh [OUTPUT] [flags]   (default OUTPUT ./output)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUTPUT=./output
if [ $# -gt 0 ] && [ "${1#-}" == "$1" ]; then
    OUTPUT=$1
    shift
fi
exec "$ROOT/node_modules/.bin/rlhfkit" train --output-dir "$OUTPUT" "$@"
