#!/usr/bin/env python3
# Golden numbers for @rlhfkit/dpo from DeepSpeed-Chat's own DPO code (step2_dpo_finetuning/main.py) on the hf-reference models.
"""
Runs DeepSpeed-Chat's DPO maths, unmodified, on the tiny hf-reference OPT and LLaMA models and writes
packages/dpo/test/fixtures/dpo-golden.json. What runs is DeepSpeed-Chat's own code:

- `get_batch_logps`, imported from training/step2_dpo_finetuning/main.py (with `deepspeed` and `datasets`
  stubbed: only names that main.py and dschat import when they load; nothing they compute here);
- the label mask (first chosen/rejected divergence), the DPO loss and the rewards: main.py's `evaluation()`,
  which is nested in `main()`, taken out of the file with `ast` and run as it is on one batch; its locals
  (label_mask, divergence_ind, logps, ref_logps, logits, rewards) are read with sys.settrace;
- the batch: dschat's `DataCollatorReward`; the models: dschat's `create_hf_model(AutoModelForCausalLM, ...)`.

The policy gradient is that same `evaluation()` run with `torch.no_grad` made a no-op, then `backward()` on the
loss it computed (the training loop's loss lines in main.py are the same as evaluation()'s).

Usage: python3 tools/dpo-fixtures/generate.py [--dschat DIR] [--fixtures DIR] [--out FILE]
  --dschat    an applications/DeepSpeed-Chat tree (default: git archive from the DeepSpeedExamples mirror)
  --fixtures  the hf-reference folder (default ../shared/fixtures/hf-reference from the repo root)
"""
import argparse
import ast
import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import types

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MIRROR = '/work/.mirror/microsoft+DeepSpeedExamples/repo'
DSCHAT_PREFIX = 'applications/DeepSpeed-Chat'
DPO_MAIN = 'training/step2_dpo_finetuning/main.py'
RECORDED_FILES = [DPO_MAIN, 'dschat/utils/data/data_utils.py', 'dschat/utils/model/model_utils.py', 'dschat/utils/utils.py']
SEQ_LEN = 16


def extract_dschat(dest):
    """git archive of applications/DeepSpeed-Chat/{dschat,training} at the mirror's HEAD; returns (tree, commit)."""
    commit = subprocess.check_output(['git', '-C', MIRROR, 'rev-parse', 'HEAD'], text=True).strip()
    # Only the Python trees: the mirror leaves large binary assets (videos) out.
    archive = subprocess.check_output(['git', '-C', MIRROR, 'archive', '--format=tar', 'HEAD', f'{DSCHAT_PREFIX}/dschat', f'{DSCHAT_PREFIX}/training'])
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
    return os.path.join(dest, DSCHAT_PREFIX), commit


def git_blob_id(path):
    data = open(path, 'rb').read()
    return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def install_stubs():
    """Minimal `deepspeed` and `datasets` modules: the names DS-Chat imports at load time, none of them used here."""

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    def unavailable(what):
        def f(*_a, **_k):
            raise RuntimeError(f'{what} is a stub in this fixture generator')
        return f

    class GatheredParameters:
        def __init__(self, params, modifier_rank=None, enabled=True):
            if enabled:
                raise RuntimeError('deepspeed.zero.GatheredParameters(enabled=True) is a stub')

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    ds = module('deepspeed', get_accelerator=unavailable('deepspeed.get_accelerator'), initialize=unavailable('deepspeed.initialize'),
                init_distributed=unavailable('deepspeed.init_distributed'), add_config_arguments=lambda parser: parser)
    ds.__path__ = []
    ds.zero = module('deepspeed.zero', GatheredParameters=GatheredParameters)
    ds.ops = module('deepspeed.ops')
    ds.ops.__path__ = []
    ds.ops.adam = module('deepspeed.ops.adam', DeepSpeedCPUAdam=unavailable('DeepSpeedCPUAdam'), FusedAdam=unavailable('FusedAdam'))
    ds.accelerator = module('deepspeed.accelerator', get_accelerator=unavailable('deepspeed.accelerator.get_accelerator'))
    ds.comm = module('deepspeed.comm', get_rank=lambda: 0)
    ds.runtime = module('deepspeed.runtime')
    ds.runtime.__path__ = []
    module('deepspeed.runtime.zero').__path__ = []
    import enum
    module('deepspeed.runtime.zero.partition_parameters', ZeroParamStatus=enum.Enum('ZeroParamStatus', 'AVAILABLE NOT_AVAILABLE INFLIGHT'))
    ds.compression = module('deepspeed.compression')
    ds.compression.__path__ = []
    module('deepspeed.compression.helper', recursive_getattr=unavailable('recursive_getattr'), recursive_setattr=unavailable('recursive_setattr'))
    module('datasets', load_dataset=unavailable('datasets.load_dataset'), load_from_disk=unavailable('datasets.load_from_disk'))


def load_dpo_main(dschat_root):
    """Imports step2_dpo_finetuning/main.py as a module, and compiles its nested evaluation() into that module's namespace."""
    sys.path.insert(0, dschat_root)
    path = os.path.join(dschat_root, DPO_MAIN)
    import importlib.util
    spec = importlib.util.spec_from_file_location('dschat_dpo_main', path)
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    tree = ast.parse(open(path).read(), path)
    main_fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'main')
    evaluation = next(n for n in main_fn.body if isinstance(n, ast.FunctionDef) and n.name == 'evaluation')
    code = compile(ast.fix_missing_locations(ast.Module(body=[evaluation], type_ignores=[])), path, 'exec')
    return main, code


class TokenizerStandIn:
    """What main.py and create_hf_model read from the tokenizer: pad_token_id, eos_token_id and len()."""

    def __init__(self, pad_token_id, eos_token_id, size):
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.size = size

    def __len__(self):
        return self.size


def f32(x):
    return float(f'{float(x):.9g}')


def run_evaluation(main, eval_code, torch, policy, reference, tokenizer, batch, beta, label_smoothing, with_grad):
    """main.py's evaluation() on one batch; returns its result and the locals read from the running function."""
    ns = dict(vars(main))
    ns['args'] = types.SimpleNamespace(beta=beta, label_smoothing=label_smoothing)
    ns['device'] = torch.device('cpu')
    exec(eval_code, ns)
    seen = {'divergence': {}}

    def tracer(frame, event, _arg):
        if frame.f_code.co_name != 'evaluation':
            return None

        def local(frame, event, _arg):
            loc = frame.f_locals
            if 'i' in loc and 'divergence_ind' in loc:
                d = loc['divergence_ind']
                if isinstance(d, int) or (hasattr(d, 'dim') and d.dim() == 0):
                    seen['divergence'][int(loc['i'])] = int(d)
            if event == 'return':
                seen['locals'] = dict(loc)
            return local
        return local

    no_grad = torch.no_grad
    if with_grad:
        torch.no_grad = contextlib.nullcontext
    sys.settrace(tracer)
    try:
        result = ns['evaluation'](policy, reference, tokenizer, [batch])
    finally:
        sys.settrace(None)
        torch.no_grad = no_grad
    return result, seen


def make_pairs(bos, pad, seq_len, vocab, rng):
    """Six chosen/rejected pairs covering the mask's cases; ids in [3, vocab) except where a pad-id token is placed on purpose."""
    def toks(n):
        return [int(x) for x in rng.integers(3, vocab, size=n)]

    def row(body):
        return [bos] + body

    pairs = []
    p = toks(4)
    pairs.append(('diverge, then different lengths', row(p + toks(6)), row(p + toks(9))))
    p = toks(10)
    pairs.append(('differ only in the last token', row(p + [11]), row(p + [12])))
    p = toks(7)
    pairs.append(('chosen fills the row (no padding)', row(p + toks(seq_len - 8)), row(p + toks(2))))
    p = toks(8)
    pairs.append(('rejected is a prefix of chosen (divergence on a pad)', row(p + toks(4)), row(p)))
    p = toks(9)
    pairs.append(('identical rows (no divergence: whole rows count)', row(p), row(p)))
    p = toks(5)
    # OPT's eos id 2 inside an answer and at its end: DeepSpeed-Chat's mask (ids != pad) drops them when pad = eos.
    pairs.append(('answers holding the eos id', row(p + [40, 2, 41, 2]), row(p + [50, 51, 2])))
    return pairs


def batch_from_pairs(torch, main, pairs, pad, seq_len):
    """DataCollatorReward over items shaped as DeepSpeed-Chat's PromptDataset yields them for phase 2 ([1, T] each)."""
    items = []
    for _, c, r in pairs:
        def t(ids):
            ids = ids + [pad] * (seq_len - len(ids))
            return torch.tensor([ids], dtype=torch.long)

        def m(ids):
            return torch.tensor([[1] * len(ids) + [0] * (seq_len - len(ids))], dtype=torch.long)
        items.append((t(c), m(c), t(r), m(r)))
    return main.DataCollatorReward()(items)


def grad_record(model, names):
    import torch
    total = 0.0
    per = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        g = p.grad.detach().double()
        total += float((g * g).sum())
        if name in names:
            per[name] = {'l2_norm': f32(g.norm()), 'shape': list(g.shape), 'first_values': [f32(v) for v in g.flatten()[:16]]}
    return {'total_l2_norm': f32(total ** 0.5), 'tensors': per}


def case(main, eval_code, torch, name, policy_dir, reference_dir, pad, bos, eos, settings, grad_names, rng_seed, note):
    import numpy as np
    from transformers import AutoModelForCausalLM
    tokenizer = TokenizerStandIn(pad, eos, 1000)
    policy = main.create_hf_model(AutoModelForCausalLM, policy_dir, tokenizer, None, dropout=None)
    reference = main.create_hf_model(AutoModelForCausalLM, reference_dir, tokenizer, None, dropout=None)
    reference.eval()
    pairs = make_pairs(bos, pad, SEQ_LEN, 1000, np.random.default_rng(rng_seed))
    batch = batch_from_pairs(torch, main, pairs, pad, SEQ_LEN)
    out = {
        'note': note,
        'policy': os.path.relpath(policy_dir, os.path.join(REPO, '..', 'shared', 'fixtures', 'hf-reference')),
        'reference': os.path.relpath(reference_dir, os.path.join(REPO, '..', 'shared', 'fixtures', 'hf-reference')),
        'pad_token_id': pad,
        'pairs': [p[0] for p in pairs],
        'input_ids': batch['input_ids'].tolist(),
        'attention_mask': batch['attention_mask'].tolist(),
        'settings': [],
    }
    for beta, ls in settings:
        (chosen_mean, rejected_mean, loss), seen = run_evaluation(main, eval_code, torch, policy, reference, tokenizer, batch, beta, ls, False)
        loc = seen['locals']
        rec = {
            'beta': beta,
            'label_smoothing': ls,
            'loss': f32(loss),
            'chosen_rewards_mean': f32(chosen_mean),
            'rejected_rewards_mean': f32(rejected_mean),
            'chosen_rewards': [f32(v) for v in loc['chosen_rewards'].tolist()],
            'rejected_rewards': [f32(v) for v in loc['rejected_rewards'].tolist()],
            'z': [f32(v) for v in loc['logits'].tolist()],
        }
        if not out['settings']:
            out['label_mask'] = loc['label_mask'].tolist()
            out['divergence_ind'] = [seen['divergence'][i] for i in range(len(pairs))]
            out['policy_logps'] = [f32(v) for v in loc['logps'].tolist()]
            out['ref_logps'] = [f32(v) for v in loc['ref_logps'].tolist()]
        out['settings'].append(rec)
    # The policy gradient of the (first setting's) loss, through the same evaluation() with no_grad lifted.
    beta, ls = settings[0]
    policy.zero_grad(set_to_none=True)
    _, seen = run_evaluation(main, eval_code, torch, policy, reference, tokenizer, batch, beta, ls, True)
    seen['locals']['losses'].backward()
    out['policy_grad'] = {'beta': beta, 'label_smoothing': ls, **grad_record(policy, grad_names)}
    return out


def main_cli():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dschat', help='an applications/DeepSpeed-Chat folder (default: git archive of the mirror)')
    ap.add_argument('--fixtures', default=os.path.join(REPO, '..', 'shared', 'fixtures', 'hf-reference'))
    ap.add_argument('--out', default=os.path.join(REPO, 'packages', 'dpo', 'test', 'fixtures', 'dpo-golden.json'))
    ap.add_argument('--attn', default='sdpa', choices=['sdpa', 'eager'], help='transformers attention implementation')
    a = ap.parse_args()

    commit = None
    tmp = tempfile.mkdtemp(prefix='dschat-')
    root = a.dschat
    if root is None:
        root, commit = extract_dschat(tmp)
    install_stubs()
    import torch
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    # create_hf_model calls from_pretrained without an attention choice; this picks the one it gets.
    os.environ.setdefault('TRANSFORMERS_VERBOSITY', 'error')
    main, eval_code = load_dpo_main(root)
    if a.attn != 'sdpa':
        orig = transformers.AutoModelForCausalLM.from_pretrained.__func__

        def with_attn(cls, *args, **kw):
            kw.setdefault('attn_implementation', a.attn)
            return orig(cls, *args, **kw)
        transformers.AutoModelForCausalLM.from_pretrained = classmethod(with_attn)

    fx = os.path.abspath(a.fixtures)
    settings = [(0.1, 0.0), (0.5, 0.2)]
    cases = {
        'opt_pad_eq_eos': case(
            main, eval_code, torch, 'opt_pad_eq_eos', os.path.join(fx, 'opt'), os.path.join(fx, 'opt-proj'), pad=2, bos=2, eos=2,
            settings=settings, grad_names=['model.decoder.embed_tokens.weight', 'model.decoder.layers.0.self_attn.q_proj.weight',
                                            'model.decoder.layers.1.fc2.bias', 'model.decoder.final_layer_norm.weight'],
            rng_seed=7,
            note="What DeepSpeed-Chat does for OPT: pad = eos = </s> (id 2), which is also the BOS. The label mask (ids != pad) "
                 "drops the BOS and every eos-id token inside a row."),
        'opt_pad1': case(
            main, eval_code, torch, 'opt_pad1', os.path.join(fx, 'opt'), os.path.join(fx, 'opt-proj'), pad=1, bos=2, eos=2,
            settings=settings[:1], grad_names=[], rng_seed=7,
            note="The same pairs padded with OPT's own <pad> (id 1): eos-id tokens inside a row now count."),
        'llama': case(
            main, eval_code, torch, 'llama', os.path.join(fx, 'llama'), os.path.join(fx, 'gpt2'), pad=0, bos=1, eos=2,
            settings=settings, grad_names=['model.embed_tokens.weight', 'model.layers.0.self_attn.k_proj.weight', 'lm_head.weight', 'model.norm.weight'],
            rng_seed=11,
            note="LLaMA policy, GPT-2 reference (same 1000-token vocabulary), pad id 0 (the id hf-reference's batches use; DeepSpeed-Chat "
                 "would add a [PAD] token, which needs an embedding resize these tiny models have no tokenizer for)."),
    }
    dschat_files = {p: git_blob_id(os.path.join(root, p)) for p in RECORDED_FILES}
    golden = {
        'about': 'DeepSpeed-Chat DPO goldens for @rlhfkit/dpo; written by tools/dpo-fixtures/generate.py. Batches are [2B, 16]: the B chosen '
                 'rows, then the B rejected rows (DataCollatorReward). policy_logps/ref_logps are get_batch_logps per row (chosen rows first).',
        'versions': {
            'python': platform.python_version(),
            'torch': torch.__version__,
            'transformers': transformers.__version__,
            'attn_implementation': a.attn,
            'deepspeedexamples_commit': commit,
            'dschat_blobs': dschat_files,
        },
        'seq_len': SEQ_LEN,
        'cases': cases,
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')
    print(f'wrote {a.out}')
    for k, c in cases.items():
        s = c['settings'][0]
        print(f"{k}: loss {s['loss']}, divergence {c['divergence_ind']}, grad norm {c['policy_grad']['total_l2_norm']}")


if __name__ == '__main__':
    main_cli()
