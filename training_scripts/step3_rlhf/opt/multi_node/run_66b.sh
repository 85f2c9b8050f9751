#!/bin/bash
# Step 3 (RLHF with PPO): DeepSpeed-Chat's training/step3_rlhf_finetuning/training_scripts/opt/multi_node/run_66b.sh with rlhfkit:
# the same flags, with `deepspeed main.py` replaced by
# `rlhfkit launch --deployment_type multi_node -- ppo train` (Open MPI's mpirun on the hosts of the DeepSpeed hostfile $RLHFKIT_HOSTFILE, default /job/hostfile). The actor (step-1 output) and critic (step-2
# output) must be local folders or in the local Hugging Face cache (nothing is downloaded); ZeRO stages, --deepspeed,
# --enable_hybrid_engine and the offload flags are accepted and explained in one line each.
# Usage: run_66b.sh ACTOR_MODEL_PATH CRITIC_MODEL_PATH [ACTOR_ZERO_STAGE] [CRITIC_ZERO_STAGE] [OUTPUT]
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
    ACTOR_ZERO_STAGE=3
fi
if [ "$CRITIC_ZERO_STAGE" == "" ]; then
    CRITIC_ZERO_STAGE=3
fi
mkdir -p $OUTPUT

Num_Padding_at_Beginning=1 # this is model related

Actor_Lr=5e-4
Critic_Lr=5e-6

"$RLHFKIT" launch --deployment_type multi_node -- ppo train \
   --data_path Dahoas/rm-static \
   --data_split 2,4,4 \
   --actor_model_name_or_path $ACTOR_MODEL_PATH \
   --critic_model_name_or_path $CRITIC_MODEL_PATH \
   --num_padding_at_beginning 1 \
   --per_device_generation_batch_size 4 \
   --per_device_training_batch_size 4 \
   --generation_batches 1 \
   --ppo_epochs 1 \
   --max_answer_seq_len 256 \
   --max_prompt_seq_len 256 \
   --actor_learning_rate ${Actor_Lr} \
   --critic_learning_rate ${Critic_Lr} \
   --actor_weight_decay 0.1 \
   --critic_weight_decay 0.1 \
   --num_train_epochs 1 \
   --lr_scheduler_type cosine \
   --gradient_accumulation_steps 1 \
   --num_warmup_steps 100 \
   --deepspeed --seed 1234 \
   --enable_hybrid_engine \
   --inference_tp_size 8 \
   --tp_gather_partition_size 4 \
   --actor_zero_stage $ACTOR_ZERO_STAGE \
   --critic_zero_stage $CRITIC_ZERO_STAGE \
   --actor_gradient_checkpointing \
   --actor_dropout 0.0 \
   --actor_lora_dim 128 \
   --actor_lora_module_name decoder.layers. \
   $RLHFKIT_STEP_FLAGS --output_dir $OUTPUT \
    &> $OUTPUT/training.log
