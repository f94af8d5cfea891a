import pytest
import yaml
from conftest import ROOT

from taskladder.base.config import ConfigError, check_command_line, load_config, schema, validate


def _config(**extra):
    return {"experiment": "t", **extra}


def test_defaults_are_filled_in():
    config = validate(_config())
    assert config["fit"]["window"] == 5 and config["fit"]["drop_first"] == 0.1
    assert config["fit"]["final_checkpoints"] == 5 and config["fit"]["huber_delta"] == 1e-3
    assert config["methods"]["two_step"]["step1"]["law"] == "power_nd"
    assert config["methods"]["two_step"]["step2"]["anchor"] is True


@pytest.mark.parametrize("bad,where", [
    ({"experimnet": "x"}, "Additional properties are not allowed \\('experimnet'"),
    ({"fit": {"window": "five"}}, "fit.window: 'five' is not of type 'integer'"),
    ({"fit": {"window": 0}}, "fit.window: 0 is less than the minimum of 1"),
    ({"fit": {"drop_first": 1.5}}, "fit.drop_first"),
    ({"methods": {"m": {"step1": {"law": "quadratic"}}}}, "methods.m.step1.law: 'quadratic' is not one of"),
    ({"targets": {"7B": {"n": -5, "d": 10}}}, "targets.7B.n: -5 is less than the minimum of 1000"),
    ({"imported": {"r": {"file": "r.csv", "n": 10**30}}},  # the import would overflow its 64-bit integer
     r"imported.r.n: 1000000000000000000000000000000 is greater than the maximum of 9223372036854775807"),
    ({"imported": {"r": {"file": "r.csv", "n": 5, "seed": -10**19}}}, r"imported.r.seed: -10000000000000000000 is "
                                                                       "less than the minimum"),
    ({"fit": {"tasks": ["piqa", "piqa"]}}, r"fit.tasks: \['piqa', 'piqa'\] has non-unique elements"),
    ({"checkpoints": [{"run": "r", "n": 5, "tokens": 10**30, "step": 1, "hub": "o/m"}]},
     r"checkpoints\[0\].tokens: 1000000000000000000000000000000 is greater than the maximum of 9223372036854775807"),
])
def test_bad_values_name_the_key(bad, where):
    with pytest.raises(ConfigError, match=where):
        validate(_config(**bad))


def test_paper_methods_by_name_with_overrides():
    config = validate(_config(methods={"taskce": {}, "single_step": {"fit": {"multistart": 3}},
                                       "mine": {"intermediate": "lm_loss", "step1": {"law": "power_flops"},
                                                "step2": {"law": "linear"}}}))
    taskce = config["methods"]["taskce"]
    assert taskce["step2"]["law"] == "log_sigmoid" and taskce["fit"]["final_checkpoints"] == 1
    assert config["methods"]["single_step"]["step2"] is None
    assert config["methods"]["single_step"]["fit"] == {"multistart": 3}
    assert config["methods"]["mine"]["fit"] == {} and config["methods"]["mine"]["step2"]["anchor"] is True
    config = validate(_config(methods={"taskce": {"fit": {"window": "2"}}}))  # --config values arrive as text
    assert config["methods"]["taskce"]["fit"] == {"final_checkpoints": 1, "target_checkpoints": 1,
                                                  "drop_first": 0.5, "window": 2}
    assert list(validate(_config())["methods"]) == ["two_step"]


@pytest.mark.parametrize("fit,where", [
    ({"window": 0}, "methods.taskce.fit.window: 0 is less than the minimum of 1"),
    ({"windw": 2}, "methods.taskce.fit: Additional properties are not allowed \\('windw'"),
    ({"tasks": ["piqa"]}, "methods.taskce.fit.tasks: a method cannot change the tasks"),
])
def test_bad_method_fit_overrides_name_the_key(fit, where):
    with pytest.raises(ConfigError, match=where):
        validate(_config(methods={"taskce": {"fit": fit}}))


def test_target_without_n_or_d():
    with pytest.raises(ConfigError, match="targets.7B-4T: missing d"):
        validate(_config(targets={"7B-4T": {"n": 6887575552}}))
    with pytest.raises(ConfigError, match="targets.13B: missing n and d"):
        validate(_config(targets={"13B": {"file": "x.csv"}}))


def test_overrides_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config()))
    config = load_config(path, {"fit.window": "7", "olmo_ladder_dir": "logs"})
    assert config["fit"]["window"] == 7 and config["olmo_ladder_dir"] == "logs"
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_a_config_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"experiment: t\n# caf\xe9\n")
    message = r"c.yaml: line 2: not UTF-8 text \(byte 0xe9\); expected a UTF-8 YAML file"
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match=message):
        check_command_line([path], [])


def test_shipped_configs_are_valid():
    for path in [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]:
        load_config(path)


@pytest.mark.parametrize("bad,where", [
    ({"fit": {"gpus": 1}}, "resources.fit: Additional properties are not allowed \\('gpus'"),
    ({"train": {"mem_mb": 0}}, "resources.train.mem_mb: 0 is less than the minimum of 1"),
    ({"train": {"runtime": "2h"}}, "resources.train.runtime: '2h' is not of type 'integer'"),
    ({"gpu": {}}, "resources: Additional properties are not allowed \\('gpu'"),
])
def test_bad_resources_name_the_key(bad, where):
    with pytest.raises(ConfigError, match=where):
        validate(_config(resources=bad))


def numeric_keys(node: dict, key: str = ""):
    """(key, its schema) of every key of a schema that holds numbers only (or null)."""
    types = node.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if types & {"integer", "number"} and types <= {"integer", "number", "null"}:
        yield key, node
    children = [(f"{key}.{k}", v) for k, v in (node.get("properties") or {}).items()]
    children += [(f"{key}.*", node[k]) for k in ("additionalProperties",) if isinstance(node.get(k), dict)]
    children += [(f"{key}[]", node["items"])] if isinstance(node.get("items"), dict) else []
    children += [(key, v) for k in ("oneOf", "anyOf", "allOf") for v in node.get(k, [])]
    for child_key, child in children:
        yield from numeric_keys(child, child_key)


def test_every_numeric_key_is_bounded_or_says_it_takes_any_number():
    """A number in the config has a lower bound (and, where an upper one, a description with its reason), or a
    description that says it takes any number; NaN and infinity are refused everywhere (validate)."""
    keys = dict(numeric_keys(schema()))
    assert ".fit.multistart" in keys and ".intervals.level" in keys and ".ladder.sizes.*.d_model" in keys
    for key, node in keys.items():
        assert "minimum" in node or "exclusiveMinimum" in node or "any" in node.get("description", ""), key
        if "maximum" in node or "exclusiveMaximum" in node:
            assert node.get("description"), f"{key}: no reason for its maximum"
