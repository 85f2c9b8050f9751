#!/bin/bash
# Step 2 (reward model) for OPT-350m on the four DeepSpeed-Chat preference datasets: its single_node/run_350m.sh with rlhfkit,
# data parallel (Open MPI's mpirun: one rank per CPU of this host, or $RLHFKIT_NUM_GPUS).
# Usage: run_350m.sh [OUTPUT] [ZERO_STAGE]   (ZERO_STAGE 1/2 shard the optimizer state across the ranks; 3 runs as 2)
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

"$RLHFKIT" launch --deployment_type single_node -- reward train \
   --data_path Dahoas/rm-static Dahoas/full-hh-rlhf Dahoas/synthetic-instruct-gptj-pairwise yitingxie/rlhf-reward-datasets \
   --data_split 2,4,4 \
   --model_name_or_path "${RLHFKIT_REWARD_MODEL:-facebook/opt-350m}" \
   --num_padding_at_beginning 1 \
   --per_device_train_batch_size 4 \
   --per_device_eval_batch_size 4 \
   --max_seq_len 512 \
   --learning_rate 5e-5 \
   --weight_decay 0.1 \
   --num_train_epochs 1 \
   --dropout 0.0 \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 0 \
   --seed 1234 \
   --zero_stage $ZERO_STAGE \
   --deepspeed \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT \
   &> $OUTPUT/training.log
