#!/bin/bash
# Step 1 (SFT) at tiny scale on the built-in demo dataset (rlhfkit/demo): a randomly initialised 2-layer OPT with the real
# GPT-2 BPE (50257 tokens, vocab 50264 = rounded up to a multiple of 8, as OPT's 50272), fine-tuned for one epoch.
# Eval perplexity is printed before training and after the epoch; it falls from ~50000 (uniform) to ~100-200.
# A few minutes on 2 CPU cores. Usage: run_tiny.sh [OUTPUT]   (MERGES=4000 cuts the BPE to 4000 merges: faster, vocab 4264)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=${1:-./output/step1_tiny}
mkdir -p "$OUTPUT"

if [ ! -f "$OUTPUT/base/config.json" ]; then
    "$RLHFKIT" init-model --out "$OUTPUT/base" --arch opt --hidden_size 64 --layers 2 --heads 4 --max_positions 128 \
        ${MERGES:+--merges $MERGES}
fi

"$RLHFKIT" sft train \
   --data_path rlhfkit/demo \
   --data_split 2,4,4 \
   --model_name_or_path "$OUTPUT/base" \
   --per_device_train_batch_size 8 \
   --per_device_eval_batch_size 16 \
   --max_seq_len 64 \
   --learning_rate 3e-3 \
   --weight_decay 0. \
   --num_train_epochs 1 \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 5 \
   --seed 1234 \
   --save_steps 50 \
   --data_output_path "$OUTPUT/data_files" \
   --output_dir "$OUTPUT/step1" 2>&1 | tee "$OUTPUT/training.log"

echo "baseline (random init) vs fine-tuned, greedy:"
"$RLHFKIT" sft eval --model_name_or_path_baseline "$OUTPUT/base" --model_name_or_path_finetune "$OUTPUT/step1" \
   --max_new_tokens 24 --format columns
