#!/bin/bash
# Step 2 (reward model) for Llama-2-7b with LoRA (rank 128 on every "layers." linear): DeepSpeed-Chat's run_llama2_7b_lora.sh.
# Usage: run_llama2_7b_lora.sh [OUTPUT] [ZERO_STAGE]
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
OUTPUT=$1
ZERO_STAGE=$2
if [ "$OUTPUT" == "" ]; then
    OUTPUT=./output_step2_llama_7b_epoch1_lr9.65e-6
fi
if [ "$ZERO_STAGE" == "" ]; then
    ZERO_STAGE=3
fi
mkdir -p $OUTPUT

"$RLHFKIT" reward train \
   --data_path Dahoas/rm-static \
   --data_split 2,4,4 \
   --model_name_or_path "${RLHFKIT_REWARD_MODEL:-meta-llama/Llama-2-7b-hf}" \
   --per_device_train_batch_size 8 \
   --per_device_eval_batch_size 8 \
   --max_seq_len 512 \
   --learning_rate 9.65e-6 \
   --weight_decay 0.1 \
   --num_padding_at_beginning 0 \
   --num_train_epochs 1  \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 0 \
   --seed 1234 \
   --gradient_checkpointing \
   --zero_stage $ZERO_STAGE \
   --deepspeed \
   --offload \
   --lora_dim 128 \
   --lora_module_name "layers." \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT \
   &> $OUTPUT/training.log
