#!/bin/bash
# Step 1 (SFT): DeepSpeed-Chat's training/step1_supervised_finetuning/training_scripts/other_language/run_japanese.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by `rlhfkit sft train`. The model must be a local folder or in the
# local Hugging Face cache (nothing is downloaded); --zero_stage, --deepspeed, --offload are accepted and explained.
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"

OUTPUT=$1
ZERO_STAGE=$2
if [ "$OUTPUT" == "" ]; then
    OUTPUT=./output
fi
if [ "$ZERO_STAGE" == "" ]; then
    ZERO_STAGE=2
fi
mkdir -p $OUTPUT

# The Japanese data we found mostly only contain one response without another
# "rejected" response. Thus we only test the step 1 finetuning and use
# a data_split of 10,0,0 (keep all data for step 1).
# (DeepSpeed-Chat's run_chinese.sh uses bigscience/bloom-1b1; rlhfkit has no BLOOM architecture, so it is not mirrored.)
"$RLHFKIT" sft train \
   --data_path mkqa-Japanese Cohere/miracl-ja-queries-22-12 lmqg/qg_jaquad lmqg/qag_jaquad \
   --data_split 10,0,0 \
   --model_name_or_path "${RLHFKIT_ACTOR_MODEL:-sberbank-ai/mGPT}" \
   --per_device_train_batch_size 8 \
   --per_device_eval_batch_size 8 \
   --max_seq_len 512 \
   --learning_rate 9.65e-6 \
   --weight_decay 0. \
   --num_train_epochs 16 \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 0 \
   --seed 1234 \
   --zero_stage $ZERO_STAGE \
   --deepspeed \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT \
   &> $OUTPUT/training.log
