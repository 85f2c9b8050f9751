#!/bin/bash
# Step 1 (SFT): DeepSpeed-Chat's training/step1_supervised_finetuning/training_scripts/opt/single_node/run_1.3b.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by
# `rlhfkit launch --deployment_type single_node -- sft train` (Open MPI's mpirun: one rank per CPU of this host, or $RLHFKIT_NUM_GPUS). The model must be a local folder or in the
# local Hugging Face cache (nothing is downloaded); --zero_stage, --deepspeed, --offload are accepted and explained.
ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"
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

"$RLHFKIT" launch --deployment_type single_node -- sft train \
   --data_path Dahoas/rm-static Dahoas/full-hh-rlhf Dahoas/synthetic-instruct-gptj-pairwise yitingxie/rlhf-reward-datasets \
   --data_split 2,4,4 \
   --model_name_or_path "${RLHFKIT_ACTOR_MODEL:-facebook/opt-1.3b}" \
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
   --enable_tensorboard \
   --tensorboard_path $OUTPUT \
   --zero_stage $ZERO_STAGE \
   --deepspeed \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT \
   &> $OUTPUT/training.log
