"""The ladder: rung specs and their hyper-parameters (paper Table 1 and its scaling rules).

A rung is one training run: a model size (d_model, layers, heads, MLP hidden size) trained on
D = xC * 20 * N tokens, named ``{size}-{xC}xC`` (``190M-1xC``, ``s1-0.5xC``). Targets are
trained the same way and carry their own names (``7B-4T``); a target gives ``xc`` or ``tokens``.

N is counted as in the paper: every parameter except the output projection,
i.e. per layer attention 4 d^2 + gated MLP 3 d h + 4 norm vectors d, plus the final norm d,
plus the input embedding vocab * d (vocab padded to a multiple of 128).

Hyper-parameters a size does not set itself follow the rules that reproduce paper Table 1
(the OLMo ladder's rules, Porian et al. 2024), with M = N / 108e6:

    batch (tokens) = 160 * M^(2/3) * 2048, rounded to a multiple of ``batch_multiple`` sequences
    peak LR        = 0.0047 * M^(-1/3) / 4
    warmup (steps) = min(N, D / 20) / batch_tokens   (N tokens; 5% of a run shorter than 1xC)

Steps = ceil(D / batch_tokens). Checkpoints every ``checkpoint_every`` steps (one value, or
one per xC, e.g. 200/200/500/1000 for 1/2/5/10xC) or ``checkpoints_per_run`` evenly spaced
ones; the last step is always a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from taskladder.base.files import MAX_STEP
from taskladder.base.metrics_table import run_flops
from taskladder.base.names import check_name

TOKENS_PER_PARAM = 20  # D at 1xC = 20 N (Chinchilla)
VOCAB_MULTIPLE = 128


class LadderError(ValueError):
    """A ladder config that cannot be turned into rungs; the message names the key."""


@dataclass(frozen=True)
class Rung:
    name: str
    size: str
    xc: float | None  # None for a target given in tokens
    n: int  # parameters by the paper's counting rule (all but the LM head)
    d: int  # training tokens asked for (xC * 20 * N, or a target's tokens)
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    mlp_hidden: int  # gated hidden size (intermediate_size)
    vocab_size: int  # embedding rows (padded)
    seq_len: int
    batch_seqs: int
    lr: float
    warmup: int
    steps: int
    checkpoints: tuple[int, ...]
    target: bool = False
    extra: dict = field(default_factory=dict, compare=False)  # model options passed through (rope_theta, ...)

    @property
    def batch_tokens(self) -> int:
        return self.batch_seqs * self.seq_len

    @property
    def tokens(self) -> int:
        """Tokens actually trained: steps * batch_tokens (>= d)."""
        return self.steps * self.batch_tokens

    @property
    def flops(self) -> float:
        return run_flops(self.n, self.d)

    @property
    def checkpoint_every(self) -> int:
        return self.checkpoints[0]

    def spec(self) -> dict:
        """Everything that defines the run (what a training job's params hold); `Rung.from_spec` reads it back."""
        return asdict(self) | {"checkpoints": list(self.checkpoints)}

    @classmethod
    def from_spec(cls, spec: dict) -> "Rung":
        return cls(**{**spec, "checkpoints": tuple(spec["checkpoints"])})


@dataclass(frozen=True)
class Ladder:
    rungs: list[Rung]
    targets: list[Rung]

    @property
    def runs(self) -> list[Rung]:
        """Every run to train: the rungs, then the targets."""
        return self.rungs + self.targets

    def __getitem__(self, name: str) -> Rung:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(f"no run named {name!r}; runs: {[r.name for r in self.runs]}")


def count_params(d_model: int, n_layers: int, mlp_hidden: int, vocab_size: int) -> int:
    """N by the paper's rule: all parameters except the output projection (LM head)."""
    per_layer = 4 * d_model**2 + 3 * d_model * mlp_hidden + 4 * d_model
    return n_layers * per_layer + d_model + vocab_size * d_model


def pad_vocab(vocab: int, multiple: int = VOCAB_MULTIPLE) -> int:
    return -(-vocab // multiple) * multiple


def paper_batch_seqs(n: int, seq_len: int, multiple: int) -> int:
    tokens = 160 * (n / 108e6) ** (2 / 3) * 2048
    return max(multiple, round(tokens / seq_len / multiple) * multiple)


def paper_lr(n: int) -> float:
    return 0.0047 * (n / 108e6) ** (-1 / 3) / 4


def paper_warmup(n: int, d: int, batch_tokens: int) -> int:
    return max(1, round(min(n, d / TOKENS_PER_PARAM) / batch_tokens))


def checkpoint_steps(steps: int, every: int | None = None, count: int | None = None) -> tuple[int, ...]:
    """Every `every` steps, or `count` evenly spaced; the final step is always included."""
    if every is None:
        count = min(count, steps)
        out = {math.ceil(steps * (i + 1) / count) for i in range(count)}
    else:
        out = set(range(every, steps + 1, every))
    out.add(steps)
    return tuple(sorted(out))


def xc_label(xc: float) -> str:
    return f"{xc:g}"


def _size(config_ladder: dict, size: str, where: str) -> dict:
    sizes = config_ladder.get("sizes") or {}
    if size not in sizes:
        raise LadderError(f"{where}: size {size!r} not in ladder.sizes (found {sorted(sizes)})")
    return sizes[size]


def _vocab_size(config: dict, vocab_size: int | None) -> int:
    """Embedding rows: ladder.vocab_size, else the given one, else a BPE's configured size; padded."""
    tok = config.get("tokenizer") or {}
    vocab = config["ladder"].get("vocab_size") or vocab_size
    if vocab is None and tok.get("kind", "bpe") == "bpe":
        vocab = tok.get("vocab_size", 2048)
    if vocab is None:
        raise LadderError(f"ladder.vocab_size: not set; with tokenizer.kind {tok.get('kind')!r} give the "
                          "tokenizer's vocabulary size (e.g. 100278 for dolma2, 50280 for gpt-neox-olmo)")
    return pad_vocab(int(vocab))


def make_rung(name: str, size: str, spec: dict, ladder_cfg: dict, vocab: int, *, xc: float | None = None,
              tokens: int | None = None, every: int | None = None, per_run: int | None = None,
              target: bool = False, where: str = "ladder") -> Rung:
    check_name("run", name, where, LadderError)
    d_model, n_layers, n_heads = spec["d_model"], spec["n_layers"], spec["n_heads"]
    if d_model % n_heads:
        raise LadderError(f"ladder.sizes.{size}: d_model {d_model} is not divisible by n_heads {n_heads}")
    if spec.get("mlp_hidden") is not None:
        hidden = spec["mlp_hidden"]
    elif spec.get("mlp_ratio") is not None:
        hidden = spec["mlp_ratio"] * d_model / 2
        if hidden != int(hidden):
            raise LadderError(f"ladder.sizes.{size}: mlp_ratio * d_model / 2 = {hidden} is not an integer; "
                              "give mlp_hidden instead")
        hidden = int(hidden)
    else:
        raise LadderError(f"ladder.sizes.{size}: give mlp_ratio (paper's r, hidden = r d / 2) or mlp_hidden")
    n = count_params(d_model, n_layers, hidden, vocab)
    seq_len = ladder_cfg["seq_len"]
    d = int(tokens) if tokens is not None else round(xc * TOKENS_PER_PARAM * n)
    batch_seqs = spec.get("batch_seqs") or paper_batch_seqs(n, seq_len, ladder_cfg["batch_multiple"])
    batch_tokens = batch_seqs * seq_len
    if batch_tokens > d:
        raise LadderError(f"{where}: run {name}: a batch of {batch_seqs} x {seq_len} = {batch_tokens} tokens is more "
                          f"than the run's D = {d} tokens; expected at most D (lower ladder.seq_len or batch_seqs)")
    steps = max(1, math.ceil(d / batch_tokens))
    if steps > MAX_STEP:
        raise LadderError(f"{where}: run {name}: {steps} steps of {batch_tokens} tokens; expected at most {MAX_STEP} "
                          "(a checkpoint's folder is named step{step:07d}); raise batch_seqs or ladder.seq_len")
    if every is None and per_run is None:
        raise LadderError(f"{where}: no checkpoint schedule; set ladder.checkpoint_every or ladder.checkpoints_per_run")
    if every is not None and every > steps:
        key = f"{where}.checkpoint_every" if target else "ladder.checkpoint_every"
        raise LadderError(f"{key}: {every} steps between checkpoints is more than the {steps} steps of run {name}; "
                          f"expected at most {steps}")
    checkpoints = checkpoint_steps(steps, every, per_run)
    return Rung(
        name=name, size=size, xc=xc, n=n, d=d, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
        n_kv_heads=spec.get("n_kv_heads") or n_heads, mlp_hidden=hidden, vocab_size=vocab, seq_len=seq_len,
        batch_seqs=batch_seqs, lr=spec.get("lr") or paper_lr(n),
        warmup=spec.get("warmup") or paper_warmup(n, d, batch_tokens), steps=steps, checkpoints=checkpoints,
        target=target, extra=dict(spec.get("model") or {}),
    )


def build(config: dict, vocab_size: int | None = None) -> Ladder:
    """The rungs and targets of a validated config.

    Embedding rows: ``ladder.vocab_size``, else `vocab_size`, else ``tokenizer.vocab_size`` of a
    BPE trained on the corpus; padded to a multiple of 128.
    """
    lc = config.get("ladder")
    if not lc:
        raise LadderError("ladder: missing; a config that trains models needs ladder.sizes and ladder.xc")
    vocab = _vocab_size(config, vocab_size)
    every = lc.get("checkpoint_every")
    xcs = lc.get("xc") or []
    if isinstance(every, list) and len(every) != len(xcs):
        raise LadderError(f"ladder.checkpoint_every: expected one interval per xC ({len(xcs)}), found {len(every)}")
    rungs = []
    for size, spec in (lc.get("sizes") or {}).items():
        if spec.get("ladder", True) is False:
            continue  # a size used only by targets
        for i, xc in enumerate(xcs):
            e = every[i] if isinstance(every, list) else every
            rungs.append(make_rung(f"{size}-{xc_label(xc)}xC", size, spec, lc, vocab, xc=xc, every=e,
                                   per_run=lc.get("checkpoints_per_run"), where=f"ladder.sizes.{size}"))
    targets = []
    for name, t in (lc.get("targets") or {}).items():
        where = f"ladder.targets.{name}"
        spec = _size(lc, t["size"], where)
        if (t.get("xc") is None) == (t.get("tokens") is None):
            raise LadderError(f"{where}: give exactly one of xc and tokens")
        e = t.get("checkpoint_every") or (every if isinstance(every, int) else None)
        per_run = t.get("checkpoints_per_run") or (None if e else lc.get("checkpoints_per_run"))
        targets.append(make_rung(name, t["size"], spec, lc, vocab, xc=t.get("xc"), tokens=t.get("tokens"),
                                 every=e, per_run=per_run, target=True, where=where))
    names = [r.name for r in rungs + targets]
    dup = {x for x in names if names.count(x) > 1}
    if dup:
        raise LadderError(f"ladder: run names used twice: {sorted(dup)}")
    return Ladder(rungs, targets)


def table_rows(ladder: Ladder) -> list[dict]:
    rows = []
    for r in ladder.runs:
        rows.append({
            "rung": r.name, "n": r.n, "d": r.d, "batch_tokens": r.batch_tokens, "lr": f"{r.lr:.3g}",
            "warmup": r.warmup, "steps": r.steps, "checkpoints": len(r.checkpoints), "flops": f"{r.flops:.3e}",
            "checkpoint_every": r.checkpoint_every, "batch_seqs": r.batch_seqs, "seq_len": r.seq_len,
            "role": "target" if r.target else "rung",
        })
    return rows
