#!/bin/bash
# The rlhfkit pipeline on the built-in demo dataset (rlhfkit/demo: real sentences from Moby-Dick and the State of the
# Union addresses; the preferred answer is the one with the higher AFINN-165 valence), at a size 2 CPU cores run in a
# few minutes:
#   0. a small randomly initialised OPT (128 wide, 4 layers, 1.4M parameters) with the real GPT-2 BPE cut to 4000
#      merges (vocab 4264)
#   1. step 1, supervised fine-tuning on prompt + chosen answer    -> $OUTPUT/step1 (HF folder)
#   2. step 2, the pairwise reward model, started from step 1       -> $OUTPUT/step2 (HF folder + v_head.weight)
#   then: the SFT model answers held-out demo prompts next to the random start, and the reward model is scored on the
#   held-out test split (accuracy, correlation with AFINN valence).
# Step 3 (PPO) is not built yet; this script will run it once it is.
# Usage: run_pipeline.sh [OUTPUT]   (default ./output/demo; a finished step is not re-run: delete its folder to redo it;
# an interrupted one is resumed)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=${1:-./output/demo}
mkdir -p "$OUTPUT"
COMMON=(--data_path rlhfkit/demo --data_split 2,4,4 --max_seq_len 128 --per_device_train_batch_size 16
        --per_device_eval_batch_size 16 --learning_rate 1e-3 --weight_decay 0.1 --lr_scheduler_type cosine
        --num_warmup_steps 10 --dropout 0.0 --seed 1234 --data_output_path "$OUTPUT/data_files")
DEMO_DATA=$("$RLHFKIT" data demo)   # builds the demo dataset on first use and prints its folder

# A step interrupted part-way continues from its last checkpoint; one stopped before its first checkpoint starts over.
again() {
    if compgen -G "$1/checkpoints/checkpoint-*" > /dev/null; then echo --resume_from_checkpoint latest
    elif [ -d "$1" ]; then echo --overwrite_output_dir; fi
}

if [ ! -f "$OUTPUT/base/config.json" ]; then
    echo "== step 0: a random small OPT (128 wide, 4 layers) with the GPT-2 BPE"
    "$RLHFKIT" init-model --out "$OUTPUT/base" --arch opt --hidden_size 128 --layers 4 --heads 4 --merges 4000 \
        --max_positions 128 --dropout 0.0
fi

if [ ! -f "$OUTPUT/step1/config.json" ]; then
    echo "== step 1: supervised fine-tuning (metrics: $OUTPUT/step1/metrics.jsonl)"
    "$RLHFKIT" sft train --model_name_or_path "$OUTPUT/base" "${COMMON[@]}" --num_train_epochs 3 \
        --output_dir "$OUTPUT/step1" $(again "$OUTPUT/step1")
fi

if [ ! -f "$OUTPUT/step2/config.json" ]; then
    echo "== step 2: reward model from the step-1 model (metrics: $OUTPUT/step2/metrics.jsonl)"
    "$RLHFKIT" reward train --model_name_or_path "$OUTPUT/step1" "${COMMON[@]}" --num_train_epochs 2 --eval_interval 50 \
        --output_dir "$OUTPUT/step2" $(again "$OUTPUT/step2")
fi

echo "== step 1 result: random start vs fine-tuned on held-out demo prompts (greedy, repetition penalty 1.2)"
"$RLHFKIT" sft eval --model_name_or_path_baseline "$OUTPUT/base" --model_name_or_path_finetune "$OUTPUT/step1" \
    --prompts "$DEMO_DATA/sample_prompts.json" --max_new_tokens 24 --repetition_penalty 1.2 --format columns
echo "== step 2 result: the reward model on the held-out test split"
"$RLHFKIT" reward eval --model_name_or_path "$OUTPUT/step2" --afinn_report
"$RLHFKIT" plot "$OUTPUT/step1/metrics.jsonl" --out "$OUTPUT/step1_loss.svg" >/dev/null
"$RLHFKIT" plot "$OUTPUT/step2/metrics.jsonl" --out "$OUTPUT/step2_loss.svg" >/dev/null
echo "== done: models in $OUTPUT/step1 and $OUTPUT/step2, loss curves in $OUTPUT/step{1,2}_loss.svg"
