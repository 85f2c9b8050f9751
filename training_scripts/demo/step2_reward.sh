#!/bin/bash
# The demo's step 2: a pairwise reward model trained from the step-1 model on rlhfkit/demo's pairs (the chosen answer
# has clearly positive AFINN-165 valence, the rejected one clearly negative).
# Usage: step2_reward.sh OUTPUT STEP1_MODEL_DIR [full|quick]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=$1
STEP1=$2
PRESET=${3:-full}
THREADS=${RLHFKIT_THREADS:-$(nproc 2>/dev/null || echo 1)}
mkdir -p "$OUTPUT"

if [ "$PRESET" == "quick" ]; then
    SPLIT=2,1,7
else
    SPLIT=6,2,2
fi

"$RLHFKIT" ${RLHFKIT_LAUNCH:-} reward train --model_name_or_path "$STEP1" --data_path rlhfkit/demo --data_split $SPLIT \
    --data_output_path "$OUTPUT/../data_files" --max_seq_len 128 --per_device_train_batch_size 16 \
    --per_device_eval_batch_size 16 --learning_rate 1e-3 --weight_decay 0.1 --lr_scheduler_type cosine \
    --num_warmup_steps 10 --num_train_epochs 1 --dropout 0.0 --eval_interval 50 --seed 1234 --threads $THREADS \
    ${RLHFKIT_STEP_FLAGS:-} --output_dir "$OUTPUT" >> "$OUTPUT/training.log" 2>&1
