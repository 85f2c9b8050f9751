#!/bin/bash
# DeepSpeed-Chat's step-2 evaluation_scripts/run_eval.sh: score prompt/answer pairs with a trained reward model (rw_eval).
# Usage: run_eval.sh MODEL_DIR [more flags for `rlhfkit reward eval`, e.g. --file pairs.jsonl, --afinn_report, --json]
# Without pairs it scores rw_eval.py's two example prompts, each with a good and a bad answer.
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
MODEL=$1
if [ "$MODEL" == "" ]; then
    echo "usage: $0 MODEL_DIR [flags]   (MODEL_DIR: the --output_dir of a step-2 run)" >&2
    exit 2
fi
shift

"$RLHFKIT" reward eval \
    --model_name_or_path "$MODEL" "$@"
