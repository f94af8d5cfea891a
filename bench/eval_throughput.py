"""Throughput of taskladder's prefix-sharing scorer against lm-eval's `hf` model on the same requests.

    python bench/eval_throughput.py                       # a random d_model-128 checkpoint, 2048-token BPE
    python bench/eval_throughput.py --checkpoint results/EXP/checkpoints/RUN/step0001000 --docs 500

Scores HellaSwag and ARC-Easy (OLMES 5-shot RC, `--docs` documents each) once through
`TaskladderLM.loglikelihood` and once through lm-eval's `HFLM.loglikelihood` (the same lm-eval
Instances, tokenization and left truncation), checks that the log-likelihoods agree, and prints
as its last line `speedup=R tokens_ratio=T`: R = wall-clock lm-eval / ours (tokenization included),
T = tokens a full-sequence scorer runs / tokens ours runs.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from lm_eval.api.instance import Instance

from taskladder.evaluate.checkpoint import write_random_checkpoint
from taskladder.evaluate.lm_eval_model import TaskladderLM
from taskladder.tasks.olmes import build_olmes


def random_checkpoint(folder: Path, tasks, vocab_size=2048) -> Path:
    """Like the embedded default ladder: a byte-level BPE of 2048 tokens (trained on the task texts here)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([c for t in tasks for d in t.docs for c in (*d.contexts[:1], *d.continuations)], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|padding|>")
    return write_random_checkpoint(folder / "step0000000", d_model=128, n_layers=4, n_heads=4, seq_len=2048,
                                   tokenizer=tokenizer)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a save_pretrained directory (default: a random tiny one)")
    p.add_argument("--docs", type=int, default=500, help="documents per task")
    p.add_argument("--tasks", nargs="+", default=["hellaswag", "arc_easy"])
    p.add_argument("--batch-size", type=int, default=16, help="lm-eval hf batch size")
    p.add_argument("--batch-tokens", type=int, default=16384, help="taskladder tokens per batch")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tasks = [build_olmes(name, limit=args.docs, seed=0) for name in args.tasks]
    tmp = tempfile.TemporaryDirectory()
    checkpoint = args.checkpoint or str(random_checkpoint(Path(tmp.name), tasks))
    instances = [Instance("loglikelihood", {}, (c, k), i, (t.name, d.doc_id, 1))
                 for t in tasks for d in t.docs for i, (c, k) in enumerate(zip(d.contexts, d.continuations))]
    print(f"{len(instances)} requests from {len(tasks)} tasks x {args.docs} docs; checkpoint {checkpoint}")

    ours_lm = TaskladderLM(pretrained=checkpoint, device="cpu", batch_tokens=args.batch_tokens)
    t0 = time.perf_counter()
    ours = ours_lm.loglikelihood(instances)
    t_ours = time.perf_counter() - t0
    stats = ours_lm.scorer.stats
    print(f"taskladder: {t_ours:.1f}s, {stats.tokens} tokens run ({stats.padded_tokens} with padding), "
          f"naive {stats.naive_tokens}")

    from lm_eval.models.huggingface import HFLM

    hf = HFLM(pretrained=checkpoint, device="cpu", batch_size=args.batch_size)
    t0 = time.perf_counter()
    ref = hf.loglikelihood(instances, disable_tqdm=True)
    t_hf = time.perf_counter() - t0
    print(f"lm-eval hf (batch size {args.batch_size}): {t_hf:.1f}s")

    diff = max(abs(a[0] - b[0]) for a, b in zip(ours, ref))
    greedy_same = sum(a[1] == b[1] for a, b in zip(ours, ref)) / len(ref)
    print(f"max |loglik difference| = {diff:.2e}; is_greedy agrees on {greedy_same:.1%}")
    if diff > 1e-3:
        raise SystemExit(f"log-likelihoods disagree: max difference {diff}")
    print(f"speedup={t_hf / t_ours:.2f} tokens_ratio={stats.naive_tokens / stats.tokens:.2f}")


if __name__ == "__main__":
    main()
