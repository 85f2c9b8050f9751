#!/bin/bash
# The demo's step 1 (what `rlhfkit train` runs with no model flags): a small random LLaMA-style model (RoPE, RMSNorm,
# SwiGLU, tied embeddings; 128 wide, 4 layers, 1.6M parameters) with the real GPT-2 BPE cut to 4000 merges (vocabulary
# 4264), then supervised fine-tuning on rlhfkit/demo's prompt + chosen answer, the loss on the answers only.
# Why these choices: rotary positions and a head tied to the embedding let a model this small learn to copy the
# prompt's words into its answer (with OPT's learned positions and the same budget it did not); batches of 8 give it
# more updates for the same tokens.
# Usage: step1_sft.sh OUTPUT BASE_MODEL_DIR [full|quick]   (the base model is created in BASE_MODEL_DIR when missing)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=$1
BASE=$2
PRESET=${3:-full}
THREADS=${RLHFKIT_THREADS:-$(nproc 2>/dev/null || echo 1)}
mkdir -p "$OUTPUT"

if [ "$PRESET" == "quick" ]; then
    HIDDEN=128; LAYERS=4; EPOCHS=1; SPLIT=2,1,7; BATCH=8
else
    HIDDEN=128; LAYERS=4; EPOCHS=3; SPLIT=6,2,2; BATCH=8
fi

if [ ! -f "$BASE/config.json" ]; then
    "$RLHFKIT" init-model --out "$BASE" --arch llama --tie_word_embeddings --hidden_size $HIDDEN --layers $LAYERS --heads 4 \
        --merges 4000 --max_positions 128 --dropout 0.0 --chat_template rm-static >> "$OUTPUT/training.log" 2>&1
fi

"$RLHFKIT" ${RLHFKIT_LAUNCH:-} sft train --model_name_or_path "$BASE" --data_path rlhfkit/demo --data_split $SPLIT \
    --data_output_path "$OUTPUT/../data_files" --max_seq_len 128 --per_device_train_batch_size $BATCH \
    --per_device_eval_batch_size 16 --learning_rate 2e-3 --weight_decay 0.1 --lr_scheduler_type cosine \
    --num_warmup_steps 50 --num_train_epochs $EPOCHS --mask_prompt --dropout 0.0 --seed 1234 --threads $THREADS \
    ${RLHFKIT_STEP_FLAGS:-} --output_dir "$OUTPUT" >> "$OUTPUT/training.log" 2>&1
