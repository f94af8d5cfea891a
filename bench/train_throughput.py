"""Tokens/s of taskladder's trainer against a plain transformers loop: same model, batch, optimizer.

    python bench/train_throughput.py [--d-model 64 --layers 2 --steps 30 --repeats 2]

Both train the same Olmo2ForCausalLM (same init) on the same batches with the same AdamW, LR
schedule and gradient clipping; times include building the model and, for ours, reading the
data, logging and writing the final checkpoint. Each measurement runs in a fresh process (our
trainer changes the process's allocator settings). Last line: speedup=R (plain loop time / ours).
"""

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskladder.train import (
    ladder,  # noqa: E402
    loop,  # noqa: E402
)
from taskladder.train.model import build_model  # noqa: E402


def make_corpus(path: Path, vocab: int, tokens: int) -> None:
    (path / "train").mkdir(parents=True)
    np.save(path / "train" / "part-00000.npy", np.random.default_rng(0).integers(0, vocab, tokens).astype(np.uint16))
    (path / "manifest.json").write_text(json.dumps({"vocab_size": vocab, "shards": ["train/part-00000.npy"]}))


def plain_loop(rung, corpus: Path, options: loop.TrainOptions) -> float:
    """What one would write with transformers alone: default attention, a batch, AdamW, clip, step."""
    t0 = time.perf_counter()
    model = build_model(rung, seed=options.seed, attn_implementation="sdpa")
    opt = torch.optim.AdamW(model.parameters(), lr=rung.lr, betas=options.betas, eps=options.eps,
                            weight_decay=options.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: loop.lr_at(s + 1, rung) / rung.lr)
    tokens = np.load(corpus / "train" / "part-00000.npy")
    model.train()
    for step in range(rung.steps):
        i = step * rung.batch_seqs * rung.seq_len
        x = torch.from_numpy(tokens[i:i + rung.batch_tokens].astype(np.int64)).view(rung.batch_seqs, rung.seq_len)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad()
    return time.perf_counter() - t0


def ours(rung, corpus: Path, run_dir: Path, options: loop.TrainOptions) -> float:
    t0 = time.perf_counter()
    loop.train_run(rung, corpus, run_dir, options)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=32, help="sequences per step")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="alternate the two loops this often; best time counts")
    p.add_argument("--only", choices=["plain", "ours"], help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    lc = {"seq_len": args.seq_len, "vocab_size": args.vocab, "batch_multiple": 1,
          "sizes": {"bench": {"d_model": args.d_model, "n_layers": args.layers, "n_heads": args.heads,
                              "mlp_ratio": 8, "batch_seqs": args.batch}}}
    spec = lc["sizes"]["bench"]
    probe = ladder.make_rung("bench", "bench", spec, lc, args.vocab, tokens=1, every=1)
    tokens = args.steps * probe.batch_tokens
    rung = ladder.make_rung("bench", "bench", spec, lc, args.vocab, tokens=tokens, per_run=1)
    options = loop.TrainOptions(threads=args.threads, progress=False, log_every=10**9)
    if not args.only:
        print(f"model: d_model {args.d_model}, {args.layers} layers, vocab {rung.vocab_size}, N {rung.n:,}; "
              f"batch {rung.batch_seqs} x {rung.seq_len} tokens; {rung.steps} steps; {args.threads} thread(s)")
    if args.only:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            make_corpus(corpus, args.vocab, tokens + rung.batch_tokens)
            t = plain_loop(rung, corpus, options) if args.only == "plain" else ours(rung, corpus, Path(tmp) / "run",
                                                                                     options)
        print(f"seconds={t}")
        return
    best = {"plain": float("inf"), "ours": float("inf")}
    for _ in range(args.repeats):
        for name in best:
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], check=True, capture_output=True,
                                 text=True).stdout
            best[name] = min(best[name], float(out.strip().splitlines()[-1].split("=")[1]))
    for name, t in best.items():
        print(f"{name:>5}: {t:7.2f} s  {tokens / t:10,.0f} tokens/s")
    print(f"speedup={best['plain'] / best['ours']:.3f}")


if __name__ == "__main__":
    main()
