#!/usr/bin/env python3
"""The TRL side of `npm run bench -- --only peers`: step 1 (SFTTrainer) or step 2 (RewardTrainer) on the exact batches
rlhfkit trains on (tools/bench/peers.ts exports them), fp32 on the CPU, gradient checkpointing off.

  peers_trl.py sft|rm --model DIR --data FILE --threads N [--epochs E]

Each dataset item is one of rlhfkit's batches (per_device_train_batch_size 1, a collator that returns the batch as it is,
sequential order), so both trainers see the same rows, in the same batches, with the same token ids. Hyper-parameters
are the demo's: AdamW lr 1e-3, betas (0.9, 0.95), weight decay 0.1 (not on biases and norms), cosine schedule with 10
warm-up steps, gradient clipping 1.0. Prints one JSON line: train_s (trainer.train() wall time), cpu_s (its process CPU time), steps, tokens,
loss_first, loss_last.
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sft", "rm"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    import transformers
    import trl
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    transformers.logging.set_verbosity_error()
    with open(a.data) as f:
        batches = json.load(f)["sft" if a.mode == "sft" else "rm"]

    def collate(items):
        b = batches[items[0]["batch"]]
        out = {k: torch.tensor(v, dtype=torch.long) for k, v in b.items()}
        return out

    common = dict(
        output_dir=tempfile.mkdtemp(prefix="rlhfkit-peers-trl-"), per_device_train_batch_size=1, num_train_epochs=a.epochs,
        learning_rate=1e-3, weight_decay=0.1, lr_scheduler_type="cosine", warmup_steps=10, adam_beta1=0.9, adam_beta2=0.95,
        max_grad_norm=1.0, gradient_checkpointing=False, logging_steps=1, save_strategy="no", eval_strategy="no",
        report_to=[], dataloader_num_workers=0, remove_unused_columns=False, use_cpu=True, seed=1234, bf16=False, fp16=False,
        disable_tqdm=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if a.mode == "sft":
        ds = Dataset.from_list([{"batch": i, "input_ids": b["input_ids"][0], "labels": b["labels"][0]} for i, b in enumerate(batches)])
        model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32)
        args = trl.SFTConfig(**common, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None)
        trainer = trl.SFTTrainer(model=model, args=args, train_dataset=ds, data_collator=collate, processing_class=tokenizer)
    else:
        ds = Dataset.from_list([{"batch": i, "chosen_ids": b["input_ids"][0], "rejected_ids": b["input_ids"][-1]} for i, b in enumerate(batches)])
        model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=1, torch_dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        args = trl.RewardConfig(**common, max_length=None)
        trainer = trl.RewardTrainer(model=model, args=args, train_dataset=ds, data_collator=collate, processing_class=tokenizer)
    trainer._get_train_sampler = lambda *args, **kwargs: SequentialSampler(trainer.train_dataset)  # rlhfkit's batch order
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    tokens = sum(sum(sum(r) for r in b["attention_mask"]) for b in batches) * a.epochs
    print(json.dumps({
        "name": f"trl {a.mode}", "train_s": round(train_s, 3), "cpu_s": round(cpu_s, 3), "steps": len(batches) * a.epochs, "tokens": tokens,
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None, "threads": a.threads,
        "trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
    }))


if __name__ == "__main__":
    try:
        main()
    except ImportError as e:
        print(f"peers_trl.py: {e}", file=sys.stderr)
        sys.exit(3)
