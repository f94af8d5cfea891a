"""Load and validate a workflow config.

The schema is split by concern: every ``schemas/*.schema.yaml`` holds a fragment
``{properties: {...}, required: [...]}`` and the fragments are merged into one
top-level object schema that rejects unknown keys. ``default:`` values are filled in,
so code downstream never guesses a default of its own.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


class ConfigError(ValueError):
    """A config that does not match the schema or the data it names."""


def schema() -> dict:
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


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _coerce(value, sub: dict):
    """Command-line overrides arrive as strings (`--config fit="{window: 7}"`): read a string as
    YAML where the schema expects a number or a boolean."""
    if isinstance(value, dict):
        props, extra = sub.get("properties", {}), sub.get("additionalProperties")
        for k, v in value.items():
            child = props.get(k, extra if isinstance(extra, dict) else None)
            if child is not None:
                value[k] = _coerce(v, child)
        return value
    types = sub.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and {"integer", "number", "boolean"} & set(types):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def validate(config: dict, source: str = "config") -> dict:
    """Validate `config` in place (filling defaults) and return it.

    Raises ConfigError naming every offending key, what was expected and what was found.
    """
    full = schema()
    _coerce(config, full)
    errors = sorted(_Validator(full).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_where(e)}: {e.message}" for e in errors]
        raise ConfigError(f"invalid {source}:\n" + "\n".join(lines))
    check_semantics(config, source)
    return config


def check_semantics(config: dict, source: str = "config") -> None:
    """Checks a JSON schema cannot express."""
    for name, target in (config.get("targets") or {}).items():
        missing = [k for k in ("n", "d") if target.get(k) is None]
        if missing:
            raise ConfigError(
                f"invalid {source}: targets.{name}: missing {' and '.join(missing)} "
                "(a target needs its non-embedding parameter count n and training tokens d)"
            )


def _parse_override(value: str):
    return yaml.safe_load(value)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Read a YAML config, apply `key=value` overrides (dotted keys allowed) and validate it."""
    config: dict = {}
    source = "config"
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        config = yaml.safe_load(path.read_text()) or {}
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, found {type(config).__name__}")
        source = str(path)
    for key, value in (overrides or {}).items():
        node = config
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = _parse_override(value) if isinstance(value, str) else value
    return validate(config, source)
