"""The paper's metrics, and parity with olmo_eval's ICLMetric (issue 4, done-when 1)."""

import math

import numpy as np
import pytest
import torch
from conftest import check_parity

from taskladder.evaluate import metrics
from taskladder.evaluate.checkpoint import (
    lm_loss,
    load_checkpoint,
    write_random_checkpoint,
)
from taskladder.tasks.documents import Doc


def test_doc_metrics_by_hand():
    conts = (" ab", " abcdef")  # 3 and 7 characters, 3 and 7 bytes
    ll = [-3.0, -5.6]  # per char: -1.0, -0.8 -> len_norm picks choice 1; raw picks choice 0
    loss, correct, ce = metrics.doc_metrics(ll, conts, 1, "len_norm")
    assert loss == pytest.approx(5.6 / (math.log(2) * 7))
    assert correct == 1.0
    assert ce == pytest.approx(-(-0.8 - math.log(math.exp(-1.0) + math.exp(-0.8))))
    _, correct_raw, ce_raw = metrics.doc_metrics(ll, conts, 1, "acc")
    assert correct_raw == 0.0
    assert ce_raw == pytest.approx(-(-5.6 - math.log(math.exp(-3.0) + math.exp(-5.6))))


def test_bpb_counts_utf8_bytes():
    assert metrics.bpb(-math.log(2) * 4, " é") == pytest.approx(4 / 3)  # " é" is 2 characters, 3 bytes


def test_ties_pick_the_first_choice():
    assert metrics.doc_metrics([-1.0, -1.0], (" a", " b"), 0, "acc")[1] == 1.0
    assert metrics.doc_metrics([-1.0, -1.0], (" a", " b"), 1, "acc")[1] == 0.0


def test_task_metrics_and_weighted_mean():
    docs = [Doc(0, ("q",) * 2, (" a", " b"), 0), Doc(1, ("q",) * 2, (" a", " b"), 0)]
    row = metrics.task_metrics(docs, [[-1.0, -2.0], [-3.0, -2.0]], "acc")
    assert row["acc"] == 0.5 and row["docs"] == 2
    agg = metrics.weighted_mean({"x": {"acc": 1.0, "task_loss": 1, "task_ce": 1},
                                 "y": {"acc": 0.0, "task_loss": 3, "task_ce": 1}}, {"x": 0.25, "y": 0.75})
    assert agg == pytest.approx({"acc": 0.25, "task_loss": 2.5, "task_ce": 1.0})
    with pytest.raises(ValueError, match="unknown accuracy metric"):
        metrics.choice_scores([0.0], [" a"], "pmi")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "step0000000", seq_len=256)
    return load_checkpoint(path, "cpu") + (path,)


def test_parity_with_icl_metric_winogrande(checkpoint):
    """len_norm; contexts differ per choice; a short context forces olmo_eval's left truncation."""
    ours = check_parity("winogrande", checkpoint, limit=8, ctx_len=96)
    assert ours["truncated"] > 0


def test_parity_with_icl_metric_mc_format(checkpoint):
    check_parity("winogrande_mc", checkpoint, limit=8)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["arc_easy", "arc_challenge", "boolq", "mmlu_stem", "hellaswag", "piqa", "csqa",
                                  "socialiqa", "openbookqa", "arc_easy_mc"])
def test_parity_with_icl_metric_all_tasks(checkpoint, name):
    check_parity(name, checkpoint, limit=12)


def test_lm_loss_equals_transformers_loss(checkpoint):
    model, tokenizer, _, _ = checkpoint
    tokens = np.random.default_rng(0).integers(0, 50000, 3 * 64 + 10)
    out = lm_loss(model, tokens, seq_len=64, batch_size=2, tokenizer=tokenizer)
    with torch.inference_mode():
        x = torch.from_numpy(tokens[:192]).view(3, 64)
        ref = float(model(input_ids=x, labels=x).loss)
    assert out["lm_loss"] == pytest.approx(ref, rel=1e-5)
    assert out["lm_tokens"] == 3 * 63
    assert out["lm_bpb"] > 0
    with pytest.raises(ValueError, match="fewer than one window"):
        lm_loss(model, tokens[:10], seq_len=64)
