#!/bin/bash
# Step 2 (reward model) for OPT-350m on one device: DeepSpeed-Chat's training_scripts/opt/single_gpu/run_350m.sh with rlhfkit.
# Usage: run_350m.sh [OUTPUT] [ZERO_STAGE]   (ZERO_STAGE is accepted for compatibility; rlhfkit explains it and runs in one process)
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=$1
ZERO_STAGE=$2
if [ "$OUTPUT" == "" ]; then
    OUTPUT=./output
fi
if [ "$ZERO_STAGE" == "" ]; then
    ZERO_STAGE=0
fi
mkdir -p $OUTPUT

# facebook/opt-350m must be in the local Hugging Face cache (or pass a folder); nothing is downloaded.
"$RLHFKIT" reward train --model_name_or_path "${RLHFKIT_REWARD_MODEL:-facebook/opt-350m}" \
   --num_padding_at_beginning 1 --weight_decay 0.1 --dropout 0.0 --gradient_accumulation_steps 4 --zero_stage $ZERO_STAGE \
   --enable_tensorboard \
   --tensorboard_path $OUTPUT \
   --deepspeed $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT &> $OUTPUT/training.log
