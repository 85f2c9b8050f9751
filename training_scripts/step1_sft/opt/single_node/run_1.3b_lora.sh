#!/bin/bash
# Step 1 (SFT): DeepSpeed-Chat's training/step1_supervised_finetuning/training_scripts/opt/single_node/run_1.3b_lora.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by
# `rlhfkit launch --deployment_type single_node -- sft train` (Open MPI's mpirun: one rank per CPU of this host, or $RLHFKIT_NUM_GPUS). The model must be a local folder or in the
# local Hugging Face cache (nothing is downloaded); --zero_stage, --deepspeed, --offload are accepted and explained.
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"

# Note that usually LoRA needs to use larger learning rate
OUTPUT_PATH=./output
mkdir -p $OUTPUT_PATH

"$RLHFKIT" launch --deployment_type single_node -- sft train \
   --data_path Dahoas/rm-static Dahoas/full-hh-rlhf Dahoas/synthetic-instruct-gptj-pairwise yitingxie/rlhf-reward-datasets \
   --data_split 2,4,4 \
   --model_name_or_path "${RLHFKIT_ACTOR_MODEL:-facebook/opt-1.3b}" \
   --per_device_train_batch_size 8 \
   --per_device_eval_batch_size 8 \
   --max_seq_len 512 \
   --learning_rate 1e-3 \
   --weight_decay 0.1 \
   --num_train_epochs 16 \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 0 \
   --seed 1234 \
   --zero_stage 0 \
   --lora_dim 128 \
   --lora_module_name decoder.layers. \
   --only_optimize_lora \
   --deepspeed \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT_PATH \
   &> $OUTPUT_PATH/training.log
