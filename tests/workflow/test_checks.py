"""What the plan checks that a schema cannot: starts against their laws, the tasks the metrics will hold, the
variance analysis against the runs' checkpoints, averages that reach back too far, a tokenizer folder."""

import pytest

from taskladder.base.config import ConfigError, validate
from taskladder.train.ladder import build
from taskladder.workflow import checks


def test_a_start_has_one_value_per_parameter():
    config = validate({"experiment": "t", "methods": {"mine": {"step1": {"law": "power_nd", "start": [1, 2]}}}})
    with pytest.raises(ConfigError, match=r"methods.mine.step1.start: 2 values; expected 5, one per parameter of "
                                          r"power_nd \['log_A', 'log_B', 'alpha', 'beta', 'E'\]"):
        checks.check_starts(config)


def test_known_tasks_are_those_every_source_holds():
    assert checks.known_tasks([["mmlu", "piqa", "boolq"], ["piqa", "mmlu"], ["piqa", "mmlu", "csqa"]]) == ["mmlu",
                                                                                                           "piqa"]
    assert checks.known_tasks([]) == []
    with pytest.raises(ConfigError, match=r"fit.tasks: unknown task\(s\) \['csqa'\]; the ladder metrics will hold"):
        checks.check_tasks("fit.tasks", ["piqa", "csqa"], ["piqa"])


def test_variance_runs_only_where_runs_have_enough_checkpoints():
    config = validate({"experiment": "t"})
    warnings = []
    settings = checks.variance_settings(config, ["piqa", "boolq", "mine"], [20, None], warnings.append)
    assert settings["tasks"] == ["piqa", "boolq"] and warnings == []  # the default tasks the metrics hold
    assert checks.variance_settings(config, ["piqa"], [3, 4], warnings.append) is None
    assert warnings == ["analyses.variance: not run: the ladder's runs have at most 4 checkpoint(s), fewer than "
                        "analyses.variance.last = 10"]


def test_an_average_reaching_back_before_80_percent_is_warned_about():
    config = validate({"experiment": "t", "fit": {"final_checkpoints": 3}, "ladder": {
        "seq_len": 8, "vocab_size": 128, "xc": [1], "checkpoints_per_run": 4,
        "sizes": {"s": {"d_model": 8, "n_layers": 1, "n_heads": 1, "mlp_ratio": 2, "batch_seqs": 1}}}})
    warnings = []
    checks.warn_averaged_too_far_back(config, build(config), warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith("fit.final_checkpoints: 3 averages checkpoints from as early")
    config["fit"]["final_checkpoints"] = 1
    checks.warn_averaged_too_far_back(config, build(config), warnings.append)
    assert len(warnings) == 1


def test_a_pretrained_tokenizer_is_a_tokenizer_folder_or_a_hub_name(tmp_path):
    checks.check_tokenizer({"kind": "pretrained", "path": "allenai/OLMo-2-0425-1B"})
    checks.check_tokenizer({"kind": "bpe", "path": None})
    with pytest.raises(ConfigError, match="holds no tokenizer.json, tokenizer_config.json or vocab.json"):
        checks.check_tokenizer({"kind": "pretrained", "path": str(tmp_path)})
    (tmp_path / "tokenizer.json").write_text("{}")
    checks.check_tokenizer({"kind": "pretrained", "path": str(tmp_path)})
    with pytest.raises(ConfigError, match="no such folder; expected a tokenizer folder or a hub name"):
        checks.check_tokenizer({"kind": "pretrained", "path": str(tmp_path / "none")})


def test_a_ladder_with_fewer_runs_than_a_methods_step1_parameters_is_refused_naming_method_group_and_count():
    config = validate({"experiment": "x", "methods": {"two_step": {}, "flops": {}, "ensemble": {"ensemble": {}}}})
    six = [f"r{i}" for i in range(6)]
    checks.check_run_counts(config, {None: six})  # 6 runs: more than power_nd's 5 parameters
    with pytest.raises(ConfigError, match=r"methods.two_step: step 1 \(power_nd\) has 5 parameters and group code's "
                                          r"ladder has 5 run\(s\); it needs more runs than parameters"):
        checks.check_run_counts(config, {"web": six, "code": six[:5]})
    with pytest.raises(ConfigError, match=r"methods.flops: .* and the ladder has 2 run\(s\)"):
        checks.check_run_counts(validate({"experiment": "x", "methods": {"flops": {}}}), {None: six[:2]})
