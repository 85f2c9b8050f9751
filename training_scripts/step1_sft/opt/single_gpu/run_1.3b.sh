#!/bin/bash
# Step 1 (SFT): DeepSpeed-Chat's training/step1_supervised_finetuning/training_scripts/opt/single_gpu/run_1.3b.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by `rlhfkit sft train`. The model must be a local folder or in the
# local Hugging Face cache (nothing is downloaded); --zero_stage, --deepspeed, --offload are accepted and explained.
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"

# Note that usually LoRA needs to use larger learning rate
OUTPUT=$1
ZERO_STAGE=$2
if [ "$OUTPUT" == "" ]; then
    OUTPUT=./output
fi
if [ "$ZERO_STAGE" == "" ]; then
    ZERO_STAGE=0
fi
mkdir -p $OUTPUT

"$RLHFKIT" sft train --model_name_or_path "${RLHFKIT_ACTOR_MODEL:-facebook/opt-1.3b}" \
   --gradient_accumulation_steps 8 --lora_dim 128 --zero_stage $ZERO_STAGE \
   --enable_tensorboard \
   --tensorboard_path $OUTPUT \
   --deepspeed $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT &> $OUTPUT/training.log
