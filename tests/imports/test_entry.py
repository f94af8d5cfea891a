"""An `imported` entry: its preset expanded under its own keys, every key checked, and units converted into the
contract's."""

import math

import pytest

from taskladder.base.config import ConfigError
from taskladder.imports.entry import check_entry, loss_factor, olmo_columns


def test_the_olmo_ladder_columns_of_a_task():
    columns = olmo_columns("piqa")
    assert columns["acc"] == "eval/downstream/piqa_val_rc_5shot_len_norm"
    assert columns["task_loss"] == "eval/downstream_bpb/piqa_val_rc_5shot_bpb"


def test_losses_are_converted_into_the_contracts_units():
    assert loss_factor("task_loss", "bits_per_byte") == 1.0
    assert loss_factor("task_loss", "nats_per_byte") == pytest.approx(1 / math.log(2))
    assert loss_factor("lm_loss", "bits_per_token") == pytest.approx(math.log(2))
    assert loss_factor("task_loss", "bits_per_token", bytes_per_token=4.0) == pytest.approx(0.25)
    assert loss_factor("task_ce", "bits") == pytest.approx(math.log(2))


def test_an_entry_is_completed_and_its_keys_checked():
    entry = check_entry("sweep", {"file": "s.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens"},
                                  "metrics": {"acc": "{task}_acc"}, "tasks": ["piqa"]})
    assert entry["file"] == "s.csv" and entry["columns"]["run"] == "model" and "units" in entry
    with pytest.raises(ConfigError, match="imported.sweep"):
        check_entry("sweep", {"file": "s.csv", "colums": {}})
    with pytest.raises(ConfigError, match="imported.sweep.tasks: required: the table has one column per task"):
        check_entry("sweep", {"file": "s.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens"},
                              "metrics": {"acc": "{task}_acc"}})
    with pytest.raises(ConfigError, match=r"imported.sweep.metrics.acc: template '\{model\}_acc' uses \['model'\]"):
        check_entry("sweep", {"file": "s.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens"},
                              "metrics": {"acc": "{model}_acc"}, "tasks": ["piqa"]})
