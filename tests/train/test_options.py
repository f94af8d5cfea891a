"""The training options: the `train` config keys and the seed as one typed object."""

import pytest

from taskladder.base.config import validate
from taskladder.train.options import TrainOptions


def test_from_dict_takes_the_options_and_ignores_how_the_job_runs():
    options = TrainOptions.from_dict({"job": "run", "nproc": 2, "threads": 3, "betas": [0.8, 0.9], "seed": 7})
    assert options.threads == 3 and options.seed == 7 and options.betas == (0.8, 0.9)
    assert not hasattr(options, "job") and not hasattr(options, "nproc")


def test_from_config_takes_the_seed_and_overrides():
    config = validate({"experiment": "t", "seed": 5, "train": {"micro_batch": 2}})
    options = TrainOptions.from_config(config, progress=False)
    assert options.seed == 5 and options.micro_batch == 2 and options.progress is False
    assert options.keep_checkpoints == config["train"]["keep_checkpoints"]


def test_an_unknown_option_in_the_constructor_is_an_error():
    with pytest.raises(TypeError):
        TrainOptions(learning_rate=1.0)
