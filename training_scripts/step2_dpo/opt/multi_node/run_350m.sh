#!/bin/bash
# DPO for OPT-350m on the four DeepSpeed-Chat preference datasets: its step2_dpo_finetuning multi_node/run_350m.sh with rlhfkit,
# data parallel (Open MPI's mpirun on the hosts of the DeepSpeed hostfile $RLHFKIT_HOSTFILE, default /job/hostfile).
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

"$RLHFKIT" launch --deployment_type multi_node -- dpo train \
   --data_path Dahoas/rm-static Dahoas/full-hh-rlhf Dahoas/synthetic-instruct-gptj-pairwise yitingxie/rlhf-reward-datasets \
   --data_split 2,4,4 \
   --model_name_or_path facebook/opt-350m \
   --per_device_train_batch_size 2 \
   --per_device_eval_batch_size 2 \
   --max_seq_len 512 \
   --learning_rate 5e-5 \
   --weight_decay 0.1 \
   --dropout 0.0 \
   --num_train_epochs 1 \
   --gradient_accumulation_steps 1 \
   --lr_scheduler_type cosine \
   --num_warmup_steps 0 \
   --seed 1234 \
   --zero_stage $ZERO_STAGE \
   --deepspeed \
   --output_dir $OUTPUT \
   &> $OUTPUT/training.log
