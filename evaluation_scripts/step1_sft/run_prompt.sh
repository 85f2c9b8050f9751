#!/bin/bash
# Step 1 evaluation: DeepSpeed-Chat's training/step1_supervised_finetuning/evaluation_scripts/run_prompt.sh with rlhfkit.
# Prints, for each built-in prompt (or --prompts FILE), the baseline's and the fine-tuned model's greedy answers.
# Usage: run_prompt.sh BASELINE FINETUNED [more rlhfkit sft eval flags, e.g. --format columns --max_new_tokens 64]
# You can provide two models to compare the performance of the baseline and the finetuned model
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
BASELINE=${1:?usage: run_prompt.sh BASELINE FINETUNED [flags]}
FINETUNE=${2:?usage: run_prompt.sh BASELINE FINETUNED [flags]}
shift 2
"$RLHFKIT" sft eval \
    --model_name_or_path_baseline "$BASELINE" \
    --model_name_or_path_finetune "$FINETUNE" "$@"
