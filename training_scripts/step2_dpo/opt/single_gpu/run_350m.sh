#!/bin/bash
# DPO for OPT-350m on one device: DeepSpeed-Chat's step2_dpo_finetuning/training_scripts/opt/single_gpu/run_350m.sh with
# `deepspeed --num_gpus 1 main.py` replaced by `rlhfkit dpo train`; the flags are DeepSpeed-Chat's.
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

# facebook/opt-350m must be in the local Hugging Face cache (or pass a folder, e.g. your step-1 output); nothing is downloaded.
"$RLHFKIT" dpo train --model_name_or_path facebook/opt-350m \
   --weight_decay 0.1 --dropout 0.0 --gradient_accumulation_steps 4 --zero_stage $ZERO_STAGE \
   --enable_tensorboard \
   --tensorboard_path $OUTPUT \
   --deepspeed --output_dir $OUTPUT &> $OUTPUT/training.log
