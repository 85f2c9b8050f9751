#!/bin/bash
# Step 3 (RLHF with PPO): DeepSpeed-Chat's training/step3_rlhf_finetuning/training_scripts/opt/single_gpu/run_1.3b.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by `rlhfkit ppo train`. The actor (step-1 output) and critic (step-2
# output) must be local folders or in the local Hugging Face cache (nothing is downloaded); ZeRO stages, --deepspeed,
# --enable_hybrid_engine and the offload flags are accepted and explained in one line each.
# Usage: run_1.3b.sh ACTOR_MODEL_PATH CRITIC_MODEL_PATH [ACTOR_ZERO_STAGE] [CRITIC_ZERO_STAGE] [OUTPUT]
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
ACTOR_MODEL_PATH=$1
CRITIC_MODEL_PATH=$2
ACTOR_ZERO_STAGE=$3
CRITIC_ZERO_STAGE=$4
OUTPUT=$5
if [ "$OUTPUT" == "" ]; then
    OUTPUT=./output
fi
if [ "$ACTOR_ZERO_STAGE" == "" ]; then
    ACTOR_ZERO_STAGE=0
fi
if [ "$CRITIC_ZERO_STAGE" == "" ]; then
    CRITIC_ZERO_STAGE=0
fi
mkdir -p $OUTPUT

Num_Padding_at_Beginning=1 # this is model related

"$RLHFKIT" ppo train \
   --actor_model_name_or_path $ACTOR_MODEL_PATH --critic_model_name_or_path $CRITIC_MODEL_PATH \
   --actor_zero_stage $ACTOR_ZERO_STAGE --critic_zero_stage $CRITIC_ZERO_STAGE \
   --num_padding_at_beginning 1 --gradient_accumulation_steps 2 \
   --deepspeed --actor_lora_dim 128 --enable_hybrid_engine --actor_gradient_checkpointing --actor_dropout 0.0 \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT &> $OUTPUT/training.log
