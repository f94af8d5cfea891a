"""Rung specs: the paper's N counting rule, Table 1 hyper-parameters, checkpoint schedules."""


import pytest
from conftest import ROOT

from taskladder.base.config import ConfigError, load_config
from taskladder.train import ladder

PAPER = ROOT / "configs" / "olmo-paper.yaml"

TABLE1 = {  # size: (N, batch seqs of 4096, peak LR, warmup)
    "190M": (190_354_176, 128, 9.7e-4, 363),
    "370M": (371_262_464, 192, 7.8e-4, 472),
    "760M": (758_220_288, 320, 6.1e-4, 578),
    "1B": (1_279_395_840, 384, 5.2e-4, 813),
}
TARGETS = {"7B-4T": (6_887_575_552, 1024, 3.0e-4, 2000), "13B-5T": (13_202_396_160, 2048, 9.0e-4, 1000)}


@pytest.fixture(scope="module")
def paper():
    return ladder.build(load_config(PAPER))


def test_paper_ladder_reproduces_table1(paper):
    assert len(paper.rungs) == 16
    every = {1: 200, 2: 200, 5: 500, 10: 1000}
    for r in paper.rungs:
        n, batch, lr, warmup = TABLE1[r.size]
        assert (r.n, r.batch_seqs, r.lr, r.warmup, r.seq_len) == (n, batch, lr, warmup, 4096), r.name
        assert r.name == f"{r.size}-{r.xc:g}xC"
        assert r.d == r.xc * 20 * n
        assert r.steps * r.batch_tokens >= r.d > (r.steps - 1) * r.batch_tokens
        assert r.checkpoints[:3] == tuple(every[r.xc] * k for k in (1, 2, 3)) and r.checkpoints[-1] == r.steps
    for t in paper.targets:
        assert (t.n, t.batch_seqs, t.lr, t.warmup) == TARGETS[t.name]
    assert paper["7B-4T"].d == 3_945_065_873_408 and paper["13B-5T"].d == 5_000_088_518_656
    # ladder compute 6ND = 5.2e21 FLOPs (paper section 3)
    assert sum(r.flops for r in paper.rungs) == pytest.approx(5.2e21, rel=0.01)


def test_scaling_rules_reproduce_table1_when_not_given():
    for size, (n, batch, lr, warmup) in TABLE1.items():
        assert ladder.paper_batch_seqs(n, 4096, 64) == batch
        assert ladder.paper_lr(n) == pytest.approx(lr, abs=0.06e-4)
        assert ladder.paper_warmup(n, 20 * n, batch * 4096) == warmup
    # shorter than 1xC: warmup is 5% of the run
    assert ladder.paper_warmup(1000, 2000, 10) == 10


def test_count_params_matches_olmo2_model():
    from taskladder.train.model import build_model

    cfg = _tiny_config()
    r = ladder.build(cfg).rungs[0]
    model = build_model(r)
    total = sum(p.numel() for p in model.parameters())
    assert r.n == total - model.lm_head.weight.numel()
    assert r.vocab_size == 384  # 300 padded to a multiple of 128


def _tiny_config(**ladder_overrides):
    cfg = {"experiment": "t", "ladder": {
        "seq_len": 32, "vocab_size": 300, "xc": [0.5, 1], "checkpoints_per_run": 3, "batch_multiple": 4,
        "sizes": {"a": {"d_model": 16, "n_layers": 2, "n_heads": 2, "mlp_ratio": 8},
                  "big": {"d_model": 32, "n_layers": 2, "n_heads": 2, "mlp_hidden": 48, "ladder": False}},
        "targets": {"big-1xC": {"size": "big", "xc": 1}},
        **ladder_overrides}}
    from taskladder.base.config import validate
    return validate(cfg)


def test_tiny_ladder_and_schedule():
    lad = ladder.build(_tiny_config())
    assert [r.name for r in lad.rungs] == ["a-0.5xC", "a-1xC"]
    assert [t.name for t in lad.targets] == ["big-1xC"] and lad.targets[0].target
    for r in lad.runs:
        assert len(r.checkpoints) == 3 and r.checkpoints[-1] == r.steps
        assert r.batch_seqs % 4 == 0 and 1 <= r.warmup < r.steps
    assert ladder.checkpoint_steps(10, every=4) == (4, 8, 10)
    assert ladder.checkpoint_steps(10, count=3) == (4, 7, 10)
    assert ladder.checkpoint_steps(2, count=5) == (1, 2)


def test_bad_ladder_configs_name_the_key():
    with pytest.raises(ladder.LadderError, match=r"ladder.targets.t: size 'nope'"):
        ladder.build(_tiny_config(targets={"t": {"size": "nope", "xc": 1}}))
    with pytest.raises(ladder.LadderError, match="exactly one of xc and tokens"):
        ladder.build(_tiny_config(targets={"t": {"size": "a"}}))
    with pytest.raises(ladder.LadderError, match="one interval per xC"):
        ladder.build(_tiny_config(checkpoint_every=[1, 2, 3]))
    with pytest.raises(ladder.LadderError, match="not divisible"):
        ladder.build(_tiny_config(sizes={"a": {"d_model": 15, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8}}))
    with pytest.raises(ConfigError, match="ladder.sizes.a"):
        _tiny_config(sizes={"a": {"d_model": 16, "n_layers": 1, "n_heads": 2, "width": 3}})


def test_ladder_command_csv(capsys):
    from taskladder.cli import main

    assert main(["ladder", "--configfile", str(PAPER), "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("rung,n,d,batch_tokens,lr,warmup,steps,checkpoints,flops")  # as the README lists them
    rows = [line.split(",") for line in out[1:]]
    assert len(rows) == 18 and rows[0][:3] == ["190M-1xC", "190354176", "3807083520"]
    assert {r[0]: int(r[1]) for r in rows}["1B-10xC"] == 1_279_395_840
