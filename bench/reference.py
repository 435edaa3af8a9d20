"""PyTorch twin of configs/char6x384.json, a benchmark fixture (not part of dlm): the same transformer
(normalised embeddings, rotary, QK-norm, weightless RMSNorm, relu^2, no biases, untied head), masking
and loss, written the plain PyTorch way (default initialisation, AdamW at a constant rate, no warm-up
or clipping). `speed` measures it as bench/train_bench.cpp measures dlm; `learn` trains on a text file
for a wall-clock budget and reports validation loss by masking level on the windows and masks dlm's
validation uses (its last 10% of 256-character windows, masks from train.seed + 7), printing JSON."""
import argparse, json, math, resource, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, MASK, EOS = 0, 1, 2  # then the characters; ids only name symbols, so figures do not depend on them


def rms(x, eps=1e-6):
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype)


class Block(nn.Module):
    def __init__(s, d, h, ff):
        super().__init__()
        s.h, s.qkv, s.proj = h, nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        s.fc, s.out = nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)

    def forward(s, x, cos, sin):
        B, L, D = x.shape
        q, k, v = s.qkv(rms(x)).view(B, L, 3, s.h, D // s.h).permute(2, 0, 3, 1, 4)
        rot = lambda t: t * cos + torch.cat([-t[..., t.size(-1) // 2:], t[..., :t.size(-1) // 2]], -1) * sin
        q, k = rms(rot(q)), rms(rot(k))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            y = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), -1) @ v
        x = x + s.proj(y.transpose(1, 2).reshape(B, L, D))
        return x + s.out(F.relu(s.fc(rms(x))).square())


class Model(nn.Module):
    def __init__(s, vocab, d=384, layers=6, heads=6, ff=1536, ctx=256):
        super().__init__()
        s.emb, s.head = nn.Embedding(vocab, d), nn.Linear(d, vocab, bias=False)
        s.blocks = nn.ModuleList(Block(d, heads, ff) for _ in range(layers))
        half = d // heads // 2
        ang = torch.outer(torch.arange(ctx).float(), 10000.0 ** (-torch.arange(half).float() / half))
        s.register_buffer("cos", torch.cat([ang.cos()] * 2, -1))
        s.register_buffer("sin", torch.cat([ang.sin()] * 2, -1))

    def forward(s, ids):
        x = rms(s.emb(ids))
        for b in s.blocks:
            x = b(x, s.cos, s.sin)
        return s.head(rms(x))


def windows(path, ctx):
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: 3 + i for i, c in enumerate(chars)}
    ids = [index[c] for c in text]
    rows = []
    for i in range(0, len(ids), ctx):
        w = ids[i:i + ctx]
        if len(w) < ctx:
            w = (w + [EOS] + [PAD] * ctx)[:ctx]
        rows.append(w)
    rows = torch.tensor(rows)
    n_val = min(512, int(len(rows) * 0.1))
    return rows[:-n_val], rows[-n_val:], 3 + len(chars)


def mask_at(rows, rates, gen):
    """Exactly round(t * L) positions per row, at least one: dlm's collator, draw for draw."""
    B, L = rows.shape
    torch.rand((B, 2), generator=gen, dtype=torch.float64)  # dlm's prefix draws, unused at prefix_prob 0
    k = torch.clamp(torch.round(rates * L), min=1, max=L)
    ranks = torch.rand((B, L), generator=gen, dtype=torch.float64).argsort(1).argsort(1)
    masked = ranks < k.unsqueeze(1)
    return torch.where(masked, torch.full_like(rows, MASK), rows), masked


def loss_of(model, rows, rates, gen, precision):
    inp, masked = mask_at(rows, rates, gen)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = model(inp)
    return F.cross_entropy(logits.float()[masked], rows[masked])


def evaluate(model, val, levels, seed, batch=64):
    model.eval()
    out = {}
    with torch.no_grad():
        for rate in levels:
            gen, total, count = torch.Generator().manual_seed(seed), 0.0, 0
            for i in range(0, len(val), batch):
                rows = val[i:i + batch]
                inp, masked = mask_at(rows, torch.full((len(rows),), rate, dtype=torch.float64), gen)
                ce = F.cross_entropy(model(inp).float()[masked], rows[masked], reduction="sum")
                total, count = total + ce.item(), count + int(masked.sum())
            out[str(rate)] = total / count
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["speed", "learn"])
    ap.add_argument("--text", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=480)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--latency-repeats", type=int, default=10)
    # For the study in bench/learn.sh: dlm's recipe, one piece at a time.
    ap.add_argument("--init", choices=["torch", "dlm"], default="torch")
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--clip", type=float, default=0.0)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--wd", type=float, default=0.01)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, val, vocab = windows(a.text, 256)
    model = Model(vocab)
    if a.init == "dlm":  # GPT-2's: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers)
        for name, p in model.named_parameters():
            nn.init.normal_(p, 0.0, 0.02 / (math.sqrt(12) if name.endswith(("proj.weight", "out.weight")) else 1))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, a.beta2), weight_decay=a.wd)
    run = torch.compile(model) if a.compile else model
    gen = torch.Generator().manual_seed(a.seed)
    order = torch.randperm(len(train), generator=gen)
    step = [0]

    def train_step():
        idx = order[torch.arange(step[0] * a.batch, (step[0] + 1) * a.batch) % len(train)]
        rates = 1e-3 + (1 - 1e-3) * torch.rand(a.batch, generator=gen, dtype=torch.float64)
        loss = loss_of(run, train[idx], rates, gen, a.precision)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        for g in opt.param_groups:
            g["lr"] = 3e-4 * min(1.0, (step[0] + 1) / a.warmup_steps) if a.warmup_steps else 3e-4
        opt.step()
        step[0] += 1
        return loss.item()

    result = {"impl": "pytorch" + ("+compile" if a.compile else ""), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "precision": a.precision,
              "parameters": sum(p.numel() for p in model.parameters())}
    if a.mode == "learn":
        start = time.monotonic()
        while time.monotonic() - start < a.seconds:
            loss = train_step()
        result.update(steps=step[0], last_loss=loss, levels=evaluate(run, val, [1.0, 0.5, 0.1], seed=a.seed + 7))
    else:
        for _ in range(a.warmup):
            train_step()
        statm = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
        rss0, t0 = statm(), time.monotonic()
        for _ in range(a.steps):
            loss = train_step()
        seconds = time.monotonic() - t0
        result.update(steps=a.steps, last_loss=loss, tokens_per_s=a.steps * a.batch * 256 / seconds,
                      rss_mib_after_warmup=rss0, rss_mib_after_steps=statm())
        run.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            for b, key in ((1, "forward_ms_batch1"), (64, "forward_ms_batch64")):
                inp, _ = mask_at(val[:b].repeat(64, 1)[:b], torch.full((b,), 0.5, dtype=torch.float64), gen)
                run(inp)
                times = []
                for _ in range(a.latency_repeats if b == 1 else max(1, a.latency_repeats // 3)):
                    t = time.monotonic()
                    run(inp)
                    times.append((time.monotonic() - t) * 1e3)
                result[key] = statistics.median(times)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
