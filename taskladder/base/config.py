"""Load and validate a workflow config.

The schema is split by concern: every ``schemas/*.schema.yaml`` holds a fragment
``{properties: {...}, required: [...]}`` and the fragments are merged into one
top-level object schema that rejects unknown keys. ``default:`` values are filled in,
so code downstream never guesses a default of its own.

Ambiguous input is refused: a key given twice in a mapping (a config file or a `--config` value; YAML itself
keeps the last one silently), a `--config` key given twice, and NaN or infinity anywhere in a config.

Methods the paper defines ship as data (``taskladder/methods.yaml``): a config entry named
like one of them starts from its definition and overrides what it sets.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import jsonschema
import yaml

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
METHODS_FILE = Path(__file__).resolve().parent / "methods.yaml"
DEFAULT_METHODS = {"two_step": {}}
# Keys that change how a job runs, not what it writes: they are never part of a job's params (the job
# reads them from the config), so changing them reruns nothing. For `train`, the weight-neutral keys:
# the same weights up to floating-point rounding (threads, processes, device) or the same files.
RUNTIME_KEYS = {
    "train": ("job", "nproc", "threads", "device", "fsdp", "micro_batch", "attn_implementation", "log_every",
              "keep_checkpoints"),
    "evaluation": ("batch_tokens", "group_size"),
}


class ConfigError(ValueError):
    """A config that does not match the schema or the data it names."""


def _dotted(path: tuple) -> str:
    """A key's path as the messages write it: fit.window, corpus.sources[0].path."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _repeated_key(node, path: tuple = (), seen: set | None = None):
    """The first key given twice in a mapping of a composed YAML document: (its path, the node of its second
    occurrence, that of its first), or None. Keys merged in with `<<` may be overridden, as YAML means them to be."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias: checked where its anchor is
        return None
    seen.add(id(node))
    children = []
    if isinstance(node, yaml.MappingNode):
        first = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            if isinstance(key, yaml.ScalarNode):
                if (key.tag, key.value) in first:
                    return path + (key.value,), key, first[key.tag, key.value]
                first[key.tag, key.value] = key
            children.append((path + (getattr(key, "value", "?"),), value))
    elif isinstance(node, yaml.SequenceNode):
        children = [(path + (i,), item) for i, item in enumerate(node.value)]
    for child_path, child in children:
        found = _repeated_key(child, child_path, seen)
        if found:
            return found
    return None


def load_yaml(text: str, source: str, key: str | None = None):
    """The YAML document `text` (from `source`, named in errors; `key`: the config key it is the value of), refusing
    bad YAML and a key given twice in a mapping, with the line and column (in a one-line text: the text and column)."""
    one_line = "\n" not in text.strip()

    def at(mark) -> str:
        return f"{text!r}, column {mark.column + 1}" if one_line else f"line {mark.line + 1}, column {mark.column + 1}"

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        repeated = node is not None and _repeated_key(node, (key,) if key else ())
        if repeated:
            path, second, first = repeated
            also = f"column {first.start_mark.column + 1}" if one_line else at(first.start_mark)
            raise ConfigError(f"{source}: {at(second.start_mark)}: {_dotted(path)} is given twice (also at {also}); "
                              "expected each key once (YAML would keep only the last)")
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{source}: {at(mark) + ': ' if mark else ''}not valid YAML "
                          f"({getattr(e, 'problem', None) or e})") from None
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """A config file's text, checked to be UTF-8 (the line of the first byte that is not)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {data[e.start]:#04x}); expected a UTF-8 YAML "
                          "file") from None


def split_overrides(items) -> dict[str, str]:
    """`--config KEY=VALUE ...` -> {KEY: VALUE text}, refusing an item without `=`, and a key given twice or inside
    another one given (`fit={window: 7}` and `fit.window=8`): which would win is not what the user can see."""
    overrides: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--config {item}: expected KEY=VALUE (e.g. fit.window=7)")
        clash = next((k for k in overrides if k == key or key.startswith(k + ".") or k.startswith(key + ".")), None)
        if clash is not None:
            given = "the key is given twice" if clash == key else f"{clash} is given too"
            raise ConfigError(f"--config {item}: {given} (--config {clash}={overrides[clash]}); expected each key "
                              "once")
        overrides[key] = value
    return overrides


def check_command_line(configfiles, config_args) -> None:
    """What the workflow was given, read strictly (Snakemake's own reading keeps the last of a key given twice and
    takes a `--config` value that is not valid YAML as a string): every config file and `--config` value."""
    for path in configfiles:
        load_yaml(read_text(Path(path)), str(path))
    for key, text in split_overrides(config_args).items():
        load_yaml(text, f"--config {key}", key)


def runtime_options(section: str, params: dict, config: dict) -> dict:
    """A job's options: its params (what changes its output) and the section's RUNTIME_KEYS from the config."""
    return {**params, **{k: config[section][k] for k in RUNTIME_KEYS[section]}}


def schema() -> dict:
    """The config schema: every file of schemas/ merged (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict:
    merged = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    files = sorted(SCHEMA_DIR.glob("*.schema.yaml"))
    if not files:
        raise ConfigError(f"no schema files found in {SCHEMA_DIR}")
    for path in files:
        part = yaml.safe_load(path.read_text()) or {}
        for key, sub in part.get("properties", {}).items():
            if key in merged["properties"]:
                raise ConfigError(f"config key '{key}' is defined twice in {SCHEMA_DIR}")
            merged["properties"][key] = sub
        merged["required"] += part.get("required", [])
    return merged


def _fill_defaults(validator_class):
    """A validator that writes `default:` values into the instance as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _fill_defaults(jsonschema.Draft202012Validator)


def _where(error: jsonschema.ValidationError, prefix: str = "") -> str:
    return _dotted(((prefix,) if prefix else ()) + tuple(error.absolute_path)) or "(top level)"


def _non_finite(value, path: tuple = ()):
    """(key, number) of every NaN or infinite number in `value` (a config, or a part of it)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, path + (str(k),))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _non_finite(v, path + (i,))
    elif isinstance(value, float) and not math.isfinite(value):
        yield _dotted(path), value


RANGE = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")  # a bound's reason is in the key's description


def _coerce(value, sub: dict):
    """Read numbers as the schema expects them: command-line overrides arrive as strings (`--config
    fit="{window: 7}"`), YAML reads `6.9e9` as a string and `6.9e+9` as a float; a whole number is
    accepted where the schema wants an integer."""
    if isinstance(value, dict):
        props, extra = sub.get("properties", {}), sub.get("additionalProperties")
        for k, v in value.items():
            child = props.get(k, extra if isinstance(extra, dict) else None)
            if child is not None:
                value[k] = _coerce(v, child)
        return value
    if isinstance(value, list) and isinstance(sub.get("items"), dict):
        return [_coerce(v, sub["items"]) for v in value]
    types = sub.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if isinstance(value, str) and {"integer", "number", "boolean"} & types:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return value
    if "integer" in types and "number" not in types and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def paper_methods() -> dict:
    """The methods of taskladder/methods.yaml, by name."""
    return yaml.safe_load(METHODS_FILE.read_text())


def _merged(base, override):
    """`override` on top of `base`, recursively for mappings."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merged(base.get(k), v) if k in base else copy.deepcopy(v)
    return out


def resolve_methods(config: dict) -> None:
    """Expand every method named like one of the paper's (methods.yaml) into its full definition,
    with the config's own keys on top. No `methods` key means the paper's two_step only."""
    methods = config.get("methods")
    if methods is None:
        methods = copy.deepcopy(DEFAULT_METHODS)
    if not isinstance(methods, dict):
        return  # the schema reports the type
    known = paper_methods()
    config["methods"] = {name: _merged(known[name], spec or {}) if name in known else spec
                         for name, spec in methods.items()}


def _errors(validator, instance, prefix: str = "") -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{_where(e, prefix)}: {e.message}"
            + (f" ({e.schema['description']})" if e.validator in RANGE and "description" in e.schema else "")
            for e in errors]


def validate(config: dict, source: str = "config") -> dict:
    """Validate `config` in place (filling defaults) and return it.

    Raises ConfigError naming every offending key, what was expected and what was found, on one line.
    """
    full = schema()
    resolve_methods(config)
    _coerce(config, full)
    lines = [f"{key}: found {value}; expected a finite number" for key, value in _non_finite(config)]
    lines = lines or _errors(_Validator(full), config)
    if not lines:  # a method's `fit` overrides must make a valid `fit` section
        fit_schema = full["properties"]["fit"]
        for name, method in config["methods"].items():
            overrides = _coerce(method.get("fit") or {}, fit_schema)
            if "tasks" in overrides:
                lines.append(f"methods.{name}.fit.tasks: a method cannot change the tasks; set fit.tasks")
            lines += _errors(_Validator(fit_schema), _merged(config["fit"], overrides), f"methods.{name}.fit")
    if lines:
        raise ConfigError(f"invalid {source}: " + "; ".join(lines))
    check_semantics(config, source)
    return config


def check_semantics(config: dict, source: str = "config") -> None:
    """Checks a JSON schema cannot express."""
    train = config.get("train") or {}
    if train.get("keep_checkpoints") == "final" and train.get("job") == "checkpoint":
        raise ConfigError(f"invalid {source}: train.keep_checkpoints: final deletes intermediate checkpoints, which "
                          "train.job: checkpoint keeps as job outputs; use keep_checkpoints: weights, or train.job: run")
    for name, target in (config.get("targets") or {}).items():
        missing = [k for k in ("n", "d") if target.get(k) is None]
        if missing:
            raise ConfigError(
                f"invalid {source}: targets.{name}: missing {' and '.join(missing)} "
                "(a target needs its non-embedding parameter count n and training tokens d)"
            )
    for name, method in config["methods"].items():
        steps = (method.get("step2") or {}).get("steps")
        if steps and steps[0] > steps[1]:
            raise ConfigError(f"invalid {source}: methods.{name}.step2.steps: [{steps[0]:g}, {steps[1]:g}]; expected "
                              "[first, last] with first <= last")
        if ("ensemble" in method) == ("step1" in method):
            raise ConfigError(f"invalid {source}: methods.{name}: give step1 (a method that fits laws) or ensemble "
                              "(one that combines the others), not " + ("both" if "step1" in method else "neither"))
        members = (method.get("ensemble") or {}).get("members") or []
        bad = [m for m in members if m not in config["methods"] or "step1" not in config["methods"][m]]
        if bad:
            fitted = [m for m, spec in config["methods"].items() if "step1" in spec]
            raise ConfigError(f"invalid {source}: methods.{name}.ensemble.members: {bad} are not methods of this "
                              f"config that fit laws; expected some of {fitted}")


def defaults(section: str) -> dict:
    """The schema's defaults of one config section (e.g. `intervals`), as a config that sets nothing gets them."""
    return validate({"experiment": "defaults"})[section]


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Read a YAML config, apply `key=value` overrides (dotted keys reach nested ones; a text value is read as YAML,
    as `--config` gives it) and validate it."""
    config: dict = {}
    source = "config"
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        config = load_yaml(read_text(path), str(path)) or {}
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, found {type(config).__name__}")
        source = str(path)
    for key, value in (overrides or {}).items():
        node = config
        *parents, last = key.split(".")
        for i, p in enumerate(parents):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--config {key}: {'.'.join(parents[:i + 1])} is {node!r}, not a mapping; expected "
                                  "a key of a mapping")
        node[last] = load_yaml(value, f"--config {key}", key) if isinstance(value, str) else value
    return validate(config, source)
