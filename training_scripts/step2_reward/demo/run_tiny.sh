#!/bin/bash
# The step-2 demo at tiny scale, on the built-in demo dataset (rlhfkit/demo: answers ranked by AFINN-165 valence):
#   a random tiny OPT -> step 1 (SFT) -> step 2 (reward model) -> held-out accuracy and correlation with AFINN valence.
# About 2 minutes on 2 CPU cores. Usage: run_tiny.sh [OUTPUT]   (SKIP_STEP1=1 trains the reward model on the random model)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=${1:-./output/step2_demo}
mkdir -p "$OUTPUT"

# 64-wide, 2-layer OPT with the first 4000 GPT-2 merges (vocabulary 4264): 381k parameters.
if [ ! -f "$OUTPUT/base/config.json" ]; then
    "$RLHFKIT" init-model --out "$OUTPUT/base" --arch opt --hidden_size 64 --layers 2 --heads 4 --merges 4000 \
        --max_positions 128 --dropout 0.0
fi

START="$OUTPUT/base"
if [ "${SKIP_STEP1:-0}" != "1" ]; then
    echo "step 1: supervised fine-tuning (log: $OUTPUT/step1.log)"
    "$RLHFKIT" sft train --model_name_or_path "$OUTPUT/base" --data_path rlhfkit/demo --data_split 2,4,4 \
        --max_seq_len 128 --per_device_train_batch_size 16 --per_device_eval_batch_size 16 --learning_rate 1e-3 \
        --weight_decay 0.1 --num_train_epochs 2 --dropout 0.0 --data_output_path "$OUTPUT/data_files" \
        --output_dir "$OUTPUT/step1" &> "$OUTPUT/step1.log"
    START="$OUTPUT/step1"
fi

echo "step 2: reward model from $START (log: $OUTPUT/step2.log)"
"$RLHFKIT" reward train --model_name_or_path "$START" --data_path rlhfkit/demo --data_split 2,4,4 \
    --max_seq_len 128 --per_device_train_batch_size 16 --per_device_eval_batch_size 16 --learning_rate 1e-3 \
    --weight_decay 0.1 --num_train_epochs 2 --dropout 0.0 --eval_interval 50 --data_output_path "$OUTPUT/data_files" \
    --output_dir "$OUTPUT/step2" &> "$OUTPUT/step2.log"
grep -E "acc \(higher is better\)|Iter [0-9]+: c_scores" "$OUTPUT/step2.log" || true

echo "held-out test split of rlhfkit/demo (sentences never seen in training):"
"$RLHFKIT" reward eval --model_name_or_path "$OUTPUT/step2" --afinn_report | tee "$OUTPUT/step2_report.txt"
"$RLHFKIT" reward eval --model_name_or_path "$OUTPUT/step2" --afinn_report --json > "$OUTPUT/step2_report.json"

echo "rw_eval's example pairs:"
"$RLHFKIT" reward eval --model_name_or_path "$OUTPUT/step2"
