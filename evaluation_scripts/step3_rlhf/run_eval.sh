#!/bin/bash
# Step 3's evaluation: the actor before and after PPO answer the same prompts, side by side, each answer scored by the
# reward model (and by AFINN valence, the demo data's preference signal), then a summary (mean reward, mean AFINN,
# answer length, distinct answers, top-word share). DeepSpeed-Chat has no step-3 eval script; this follows its
# step-1 prompt_eval.py with rw_eval.py's scoring.
# Usage: run_eval.sh BASELINE_ACTOR FINETUNED_ACTOR REWARD_MODEL [more flags for `rlhfkit ppo eval`]
#   e.g. run_eval.sh output/step1 output/step3/actor output/step2 --data_path rlhfkit/demo --num_prompts 50
# Without --prompts or --data_path it answers the held-out prompts of rlhfkit/demo.
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RLHFKIT="$ROOT/node_modules/.bin/rlhfkit"
BASELINE=$1
FINETUNE=$2
REWARD=$3
if [ "$BASELINE" == "" ] || [ "$FINETUNE" == "" ] || [ "$REWARD" == "" ]; then
    echo "usage: $0 BASELINE_ACTOR FINETUNED_ACTOR REWARD_MODEL [flags]" >&2
    exit 2
fi
shift 3
case " $* " in
    *" --prompts "*|*" --data_path "*|*" --data-path "*) ;;
    *) set -- "$@" --data_path rlhfkit/demo --num_prompts 50 ;;
esac

"$RLHFKIT" ppo eval --model_name_or_path_baseline "$BASELINE" --model_name_or_path_finetune "$FINETUNE" \
    --reward_model "$REWARD" --repetition_penalty 1.2 "$@"
