#!/usr/bin/env python3
"""PyTorch baseline of one DeepSpeed-Chat PPO step on the standard model (tools/bench/ppo.ts measures rlhfkit's).

Models: ../shared/bench/torch_baseline.py's NativeOPT. Actor = the standard model with its tied LM head, reference =
a copy of the actor, critic and reward = another standard body (same seed, so equal weights) with a value head.
One step, as dschat/rlhf/ppo_trainer.py does it:
  generate  left-padded prompts [B, P] (pad = eos = 2, the OPT convention of DeepSpeed-Chat), HF-style greedy decoding
            with a KV cache (positions cumsum(mask) - 1, padding bias), exactly N new tokens: no EOS stop (rlhfkit's
            side sets eos_token_id null, so both do the same work); answers of <= 1 non-pad token are dropped
  score     mask = seq != pad; actor and reference log-probs (gather_log_probs of logits[:, :-1]), the reward model's
            chosen_end_scores (forward_value with prompt_length), the critic's values[:, :-1], all under no_grad
  train     train_rlhf: compute_rewards (kl_ctl 0.1, clip 5), zeroing past ends, GAE (gamma 1, lam 0.95), the clipped
            actor loss (0.2) and critic loss (0.2), each backward + clip_grad_norm(1.0) + AdamW(0.9, 0.95) step
Prints one JSON line: seconds per step (median) and per phase, generation tokens/s.
"""
import argparse
import copy
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NEG = -1e9  # the finite mask bias rlhfkit uses (core-tensor masks.ts): fully masked left-pad queries stay NaN-free


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(HERE, "../../../shared/bench")),
                    help="directory of torch_baseline.py")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--min-prompt", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--pad", type=int, default=2)
    return ap.parse_args()


ARGS = parse()
sys.path.insert(0, ARGS.shared)
import torch_baseline as tb  # noqa: E402  (sets OMP_WAIT_POLICY=PASSIVE before torch loads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# DeepSpeed-Chat's constants (ppo_trainer.py) and step-3 defaults (main.py)
KL_CTL, CLIP_REWARD, CLIPRANGE, CLIPRANGE_VALUE, GAMMA, LAM = 0.1, 5.0, 0.2, 0.2, 1.0, 0.95
ACTOR_LR, CRITIC_LR, MAX_GRAD_NORM = 9.65e-6, 5e-6, 1.0


def hidden(m, ids, mask, caches=None, past=0):
    """HF OPT's decoder over [b, t] ids with a [b, past + t] 0/1 mask -> [b, t, h] after the final LayerNorm."""
    t = ids.shape[1]
    pos = (torch.cumsum(mask, 1) * mask - 1)[:, past:]  # [b, t] HF OPT positions; pads at -1
    x = m.embed(ids) + m.pos(pos + m.OFFSET)
    bias = (1.0 - mask[:, None, None, :].float()) * NEG  # [b, 1, 1, past + t] padding bias
    if t > 1:
        bias = bias + torch.full((t, past + t), NEG).triu(past + 1)  # [b, 1, t, past + t] with the causal part
    for i, blk in enumerate(m.blocks):
        x = blk(x, bias, None if caches is None else caches[i])
    return m.ln_f(x)


def lm_logits(m, h):
    return h @ m.embed.weight.t()  # tied head


class Critic(nn.Module):
    """DeepSpeed-Chat's RewardModel: body + v_head (no bias); forward_value as in reward_model.py."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.v_head = nn.Linear(tb.CFG["hidden"], 1, bias=False)

    def values(self, ids, mask):
        return self.v_head(hidden(self.body, ids, mask)).squeeze(-1)  # [b, L]

    def end_scores(self, ids, mask, prompt_length, pad):
        v = self.values(ids, mask)
        out = []
        for i in range(ids.shape[0]):
            c_inds = (ids[i, prompt_length:] == pad).nonzero()
            c_ind = c_inds[0].item() + prompt_length if len(c_inds) > 0 else ids.shape[1]
            out.append(v[i, c_ind - 1])
        return torch.stack(out)


def gather_log_probs(logits, labels):
    return F.log_softmax(logits, dim=-1).gather(dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def generate(actor, prompts, pmask, new):
    """Greedy with a KV cache, HF generate's positions and padding bias; exactly `new` tokens (no EOS stop)."""
    caches = [[None, None] for _ in actor.blocks]
    mask = pmask
    h = hidden(actor, prompts, mask, caches, 0)
    nxt = lm_logits(actor, h[:, -1]).argmax(-1, keepdim=True)
    out = [prompts, nxt]
    for _ in range(new - 1):
        past = mask.shape[1]
        mask = torch.cat([mask, torch.ones_like(nxt)], 1)
        h = hidden(actor, nxt, mask, caches, past)
        nxt = lm_logits(actor, h[:, -1]).argmax(-1, keepdim=True)
        out.append(nxt)
    seq = torch.cat(out, 1)
    valid = (seq[:, prompts.shape[1]:] != ARGS.pad).sum(-1)
    return seq[valid > 1]  # DeepSpeed-Chat drops answers of at most one token


def compute_rewards(prompts, log_probs, ref_log_probs, reward_score, action_mask):
    rewards = -KL_CTL * (log_probs - ref_log_probs)
    start = prompts.shape[1] - 1
    ends = start + action_mask[:, start:].sum(1) + 1
    reward_clip = torch.clamp(reward_score, -CLIP_REWARD, CLIP_REWARD)
    for j in range(log_probs.shape[0]):
        rewards[j, start:ends[j]][-1] += reward_clip[j]
    return rewards


def advantages_and_returns(values, rewards, start):
    lastgaelam = 0
    rev = []
    length = rewards.size()[-1]
    for t in reversed(range(start, length)):
        nextvalues = values[:, t + 1] if t < length - 1 else 0.0
        delta = rewards[:, t] + GAMMA * nextvalues - values[:, t]
        lastgaelam = delta + GAMMA * LAM * lastgaelam
        rev.append(lastgaelam)
    advantages = torch.stack(rev[::-1], dim=1)
    return advantages.detach(), advantages + values[:, start:]


def actor_loss_fn(logprobs, old_logprobs, advantages, mask):
    ratio = torch.exp((logprobs - old_logprobs) * mask)
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1.0 - CLIPRANGE, 1.0 + CLIPRANGE)
    return torch.sum(torch.max(pg1, pg2) * mask) / mask.sum()


def critic_loss_fn(values, old_values, returns, mask):
    clipped = torch.clamp(values, old_values - CLIPRANGE_VALUE, old_values + CLIPRANGE_VALUE)
    return 0.5 * torch.sum(torch.max((values - returns) ** 2, (clipped - returns) ** 2) * mask) / mask.sum()


def adamw(params, lr):
    """DeepSpeed-Chat's grouped AdamW (weight decay 0 by default for actor and critic), betas (0.9, 0.95)."""
    return torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, betas=(0.9, 0.95), weight_decay=0.0)


def left_padded_prompts(b, p, lo, vocab, pad):
    """Row i has p - i*(p - lo)/(b - 1) real tokens (row 0 full, the last `lo`), left-padded with pad: as ppo.ts builds them."""
    g = torch.Generator().manual_seed(321)
    ids = torch.full((b, p), pad, dtype=torch.long)
    mask = torch.zeros((b, p), dtype=torch.long)
    for i in range(b):
        n = p - (i * (p - lo)) // max(1, b - 1)
        ids[i, p - n:] = torch.randint(3, vocab, (n,), generator=g)
        mask[i, p - n:] = 1
    return ids, mask


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    tb.set_blas_threads(a.threads)
    torch.manual_seed(0)
    actor = tb.native_model()
    ref = copy.deepcopy(actor).requires_grad_(False).eval()
    torch.manual_seed(1)
    critic = Critic(tb.native_model())
    reward = copy.deepcopy(critic).requires_grad_(False).eval()
    actor_opt, critic_opt = adamw(actor.parameters(), ACTOR_LR), adamw(critic.parameters(), CRITIC_LR)
    prompts, pmask = left_padded_prompts(a.batch, a.prompt_len, a.min_prompt, tb.CFG["vocab"], a.pad)
    pad = a.pad
    gen_s, score_s, train_s, step_s, losses, rows, splits = [], [], [], [], [], [], []
    snap0 = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            snap0 = tb._cpu_snapshot()
        t0 = time.perf_counter()
        # ---- generate_experience
        actor.eval(); critic.eval()  # noqa: E702
        seq = generate(actor, prompts, pmask, a.new_tokens)
        t1 = time.perf_counter()
        actor.train(); critic.train()  # noqa: E702
        attention_mask = seq.not_equal(pad).long()
        split = {}
        with torch.no_grad():
            c = time.perf_counter()
            logprobs = gather_log_probs(lm_logits(actor, hidden(actor, seq, attention_mask))[:, :-1, :], seq[:, 1:])
            split["actor"], c = time.perf_counter() - c, time.perf_counter()
            ref_logprobs = gather_log_probs(lm_logits(ref, hidden(ref, seq, attention_mask))[:, :-1, :], seq[:, 1:])
            split["reference"], c = time.perf_counter() - c, time.perf_counter()
            reward_score = reward.end_scores(seq, attention_mask, prompts.shape[1], pad)
            split["reward"], c = time.perf_counter() - c, time.perf_counter()
            values = critic.values(seq, attention_mask)[:, :-1]
            split["critic"] = time.perf_counter() - c
        t2 = time.perf_counter()
        # ---- train_rlhf
        start = prompts.shape[1] - 1
        action_mask = attention_mask[:, 1:]
        old_values = values
        with torch.no_grad():
            old_rewards = compute_rewards(prompts, logprobs, ref_logprobs, reward_score, action_mask)
            ends = start + action_mask[:, start:].sum(1) + 1
            for i in range(old_rewards.shape[0]):
                old_rewards[i, ends[i]:] = 0
                old_values[i, ends[i]:] = 0
            advantages, returns = advantages_and_returns(old_values, old_rewards, start)
        c = time.perf_counter()
        actor_log_prob = gather_log_probs(lm_logits(actor, hidden(actor, seq, attention_mask))[:, :-1, :], seq[:, 1:])
        actor_loss = actor_loss_fn(actor_log_prob[:, start:], logprobs[:, start:], advantages, action_mask[:, start:])
        actor_loss.backward()
        torch.nn.utils.clip_grad_norm_(actor.parameters(), MAX_GRAD_NORM)
        actor_opt.step()
        actor_opt.zero_grad(set_to_none=True)
        split["actor_update"], c = time.perf_counter() - c, time.perf_counter()
        value = critic.values(seq, attention_mask)[:, :-1]
        critic_loss = critic_loss_fn(value[:, start:], old_values[:, start:], returns, action_mask[:, start:])
        critic_loss.backward()
        torch.nn.utils.clip_grad_norm_(critic.parameters(), MAX_GRAD_NORM)
        critic_opt.step()
        critic_opt.zero_grad(set_to_none=True)
        split["critic_update"] = time.perf_counter() - c
        al, cl = actor_loss.item(), critic_loss.item()
        t3 = time.perf_counter()
        if step >= a.warmup:
            gen_s.append(t1 - t0)
            score_s.append(t2 - t1)
            train_s.append(t3 - t2)
            step_s.append(t3 - t0)
            losses.append([al, cl])
            rows.append(seq.shape[0])
            splits.append(split)
    busy = tb._foreign_load(snap0, tb._cpu_snapshot())
    med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2  # noqa: E731
    r4 = lambda xs: [round(x, 4) for x in xs]  # noqa: E731
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "step_s": round(med(step_s), 4), "generate_s": round(med(gen_s), 4), "score_s": round(med(score_s), 4),
        "train_s": round(med(train_s), 4), "gen_tokens_per_s": round(a.batch * a.new_tokens / med(gen_s), 1),
        "step_s_each": r4(step_s), "generate_s_each": r4(gen_s), "score_s_each": r4(score_s), "train_s_each": r4(train_s),
        "split_s": {k: round(med([sp[k] for sp in splits]), 4) for k in splits[0]},
        "losses_actor_critic_first": [round(x, 5) for x in losses[0]], "rows": rows[-1], "steps": len(step_s),
        "foreign_cpus_busy": busy,
    }))


if __name__ == "__main__":
    main()
