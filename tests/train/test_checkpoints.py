"""A run's checkpoints on disk: complete or absent, resumed from, and released by the retention policy."""

import json

import pytest
import torch
from test_loop import full_run_fixture, setup_fixture, weights  # noqa: F401 (fixtures setup, full_run)

from taskladder.base import files
from taskladder.base.config import validate
from taskladder.train import checkpoints, ladder, launch, loop
from taskladder.train.model import build_model
from taskladder.train.options import TrainOptions


def tiny_rung():
    return ladder.build(validate({"experiment": "t", "ladder": {
        "seq_len": 8, "vocab_size": 128, "xc": [1], "checkpoints_per_run": 2,
        "sizes": {"s": {"d_model": 8, "n_layers": 1, "n_heads": 1, "mlp_ratio": 2, "batch_seqs": 1}}}})).rungs[0]


def trained_a_step(rung, seed=0):
    """A model and its optimizer after one step (so the optimizer has state to save)."""
    model = build_model(rung, seed=seed)
    optimizer = loop.make_optimizer(model, rung, TrainOptions())
    x = torch.randint(0, rung.vocab_size, (1, rung.seq_len))
    model(input_ids=x, labels=x).loss.backward()
    optimizer.step()
    return model, optimizer


def test_a_saved_checkpoint_resumes_model_optimizer_and_log(tmp_path):
    rung, options = tiny_rung(), TrainOptions(seed=3)
    model, optimizer = trained_a_step(rung)
    rows = [{"step": 1, "tokens": rung.batch_tokens, "loss": 4.5, "lr": 1e-3, "grad_norm": 0.5}]
    path = checkpoints.save_checkpoint(tmp_path, rung, 1, model, optimizer, None, rows, options, rank=0)
    assert path == files.checkpoint_dir(tmp_path, 1) and checkpoints.complete_checkpoints(tmp_path) == [1]
    info = json.loads((path / "taskladder.json").read_text())
    assert info == {**info, "run": rung.name, "n": rung.n, "step": 1, "tokens": rung.batch_tokens, "seed": 3,
                    "loss": 4.5}
    assert (path / "log.csv").read_text().splitlines() == ["step,tokens,loss,lr,grad_norm",
                                                           f"1,{rung.batch_tokens},4.5,0.001,0.5"]
    fresh, fresh_optimizer = trained_a_step(rung, seed=1)
    assert checkpoints.resume(fresh, fresh_optimizer, tmp_path, until=0, options=options) == (0, [])
    assert checkpoints.resume(fresh, fresh_optimizer, tmp_path, until=1, options=options) == (1, rows)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    state = fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(state[k]["exp_avg"], v["exp_avg"]) for k, v in optimizer.state_dict()["state"].items())
    assert checkpoints.save_checkpoint(tmp_path, rung, 2, model, optimizer, None, rows, options, rank=1) is None


def test_a_failed_save_leaves_no_checkpoint(tmp_path, monkeypatch):
    rung = tiny_rung()
    model, optimizer = trained_a_step(rung)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_checkpoint(tmp_path, rung, 1, model, optimizer, None, [], TrainOptions(), rank=0)
    assert list(tmp_path.iterdir()) == [] and checkpoints.complete_checkpoints(tmp_path) == []


def test_only_complete_checkpoint_folders_count(tmp_path):
    for name in ("step0000001", "step0000002", "step0000003", ".step0000004.tmp-1", "step12"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "taskladder.json").write_text("{}")
    (tmp_path / "step0000002" / "taskladder.json").unlink()  # a folder not (yet) complete
    (tmp_path / "step0000003" / "train_state.pt").write_text("")
    assert checkpoints.complete_checkpoints(tmp_path) == [1, 3]
    assert checkpoints.complete_checkpoints(tmp_path, resumable=True) == [3]
    assert checkpoints.complete_checkpoints(tmp_path / "none") == []


def test_drop_old_train_states_keeps_the_newest(tmp_path):
    for step in (1, 2, 3):
        folder = files.checkpoint_dir(tmp_path, step)
        folder.mkdir()
        (folder / "taskladder.json").write_text("{}")
        (folder / "train_state.pt").write_text("")
    checkpoints.drop_old_train_states(tmp_path)
    assert checkpoints.complete_checkpoints(tmp_path) == [1, 2, 3]
    assert checkpoints.complete_checkpoints(tmp_path, resumable=True) == [3]


def test_an_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"train.keep_checkpoints: expected one of .*'some'"):
        checkpoints.release_checkpoints(tmp_path, "some")


def test_keep_checkpoints_weights_then_final(setup, full_run):
    """`weights` keeps every checkpoint's weights but only the newest optimizer state, and trains the
    same weights; `final` then deletes the intermediate checkpoints, idempotently."""
    cfg, corpus, tmp = setup
    rung = ladder.build(cfg).rungs[0]
    run_dir = tmp / "kept"
    launch.train_from_config(cfg, rung.name, until=rung.checkpoints[0], corpus=corpus, run_dir=run_dir,
                            progress=False, keep_checkpoints="weights")
    with pytest.raises(ValueError, match="the run is not finished"):
        checkpoints.release_checkpoints(run_dir, "final")
    final = launch.train_from_config(cfg, rung.name, corpus=corpus, run_dir=run_dir, progress=False,
                                    keep_checkpoints="weights")
    assert weights(final) == weights(full_run)
    assert checkpoints.complete_checkpoints(run_dir) == list(rung.checkpoints)
    assert checkpoints.complete_checkpoints(run_dir, resumable=True) == [rung.steps]
    for step in rung.checkpoints:  # every checkpoint still loads
        assert (files.checkpoint_dir(run_dir, step) / "model.safetensors").exists()
    assert checkpoints.release_checkpoints(run_dir, "weights") == []
    assert checkpoints.release_checkpoints(run_dir, "final") == list(rung.checkpoints[:-1])
    assert checkpoints.complete_checkpoints(run_dir) == [rung.steps] and weights(final) == weights(full_run)
    assert checkpoints.release_checkpoints(run_dir, "final") == []
