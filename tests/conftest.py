"""What tests in several folders share (a test module imports it: `from conftest import ROOT`): the checkout's root,
the paper's logs, the default interval options, parity with olmo_eval's ICLMetric. Helpers that one folder's tests
share stay in a test module of that folder (`from test_prepare import corpus_config`)."""

from pathlib import Path

import pytest

from taskladder.base.config import defaults

ROOT = Path(__file__).resolve().parent.parent
PAPER_LOGS = ROOT.parent / "shared" / "olmo-ladder"


@pytest.fixture
def paper_logs() -> Path:
    """The paper's released ladder logs; tests that need them skip (saying why) when absent."""
    if not (PAPER_LOGS / "1B-10xC.csv").exists():
        pytest.skip(f"the paper's ladder logs are not at {PAPER_LOGS} (copy OLMo-ladder's CSVs there to run this)")
    return PAPER_LOGS


EVIDENCE = {k: defaults("flags")[k] for k in ("min_snr", "min_monotone")}  # when a ladder shows a trend


def intervals(**overrides) -> dict:
    """The `intervals` options a config that sets none gets (the schema's defaults), with `overrides`."""
    return {**defaults("intervals"), **overrides}


def icl_metric_reference(name, task, model, tokenizer, path, ctx_len):
    """olmo_eval's own pipeline: build_task with the checkpoint's tokenizer, collate, forward, ICLMetric."""
    import torch
    from olmo_eval import HFTokenizer, ICLMetric, build_task

    from taskladder.tasks.olmes import OLMES

    otok = HFTokenizer(str(path / "tokenizer.json"), pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id)
    otask = build_task(OLMES[name], otok, model_ctx_len=ctx_len)
    keep = {d.doc_id for d in task.docs}
    samples = [s for s in otask.samples if s["doc_id"] in keep]
    metric = ICLMetric(otask.metric_type)
    with torch.inference_mode():
        for i in range(0, len(samples), 4):
            batch = otask.collate_fn(samples[i:i + 4])
            metric.update(batch, model(input_ids=batch["input_ids"]).logits)
    out = metric.compute()
    return otask.metric_type, float(out["bpb_v2"]), float(out[f"{otask.metric_type}_v2"]), -float(out["soft_log_v2"])


def check_parity(name, checkpoint, limit, ctx_len=256):
    """Our scores of OLMES task `name` on `checkpoint` ((model, tokenizer, info, path), as load_checkpoint gives and
    its path) equal olmo_eval's ICLMetric's; returns ours."""
    from taskladder.evaluate.checkpoint import evaluate_task
    from taskladder.evaluate.scoring import Scorer
    from taskladder.tasks.olmes import build_olmes

    model, tokenizer, _, path = checkpoint
    task = build_olmes(name, limit=limit, seed=1)
    scorer = Scorer(model, max_length=ctx_len)
    ours = evaluate_task(scorer, task, tokenizer, overflow="truncate")
    metric, bpb, acc, task_ce = icl_metric_reference(name, task, model, tokenizer, path, ctx_len)
    assert task.metric == metric
    assert ours["task_loss"] == pytest.approx(bpb, abs=1e-4)
    assert ours["acc"] == pytest.approx(acc, abs=1e-6)  # exact: same argmax on every document
    assert ours["task_ce"] == pytest.approx(task_ce, abs=1e-4)
    return ours
