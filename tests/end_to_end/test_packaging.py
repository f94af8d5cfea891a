"""The install is reproducible: requirements.lock pins, with hashes, versions inside pyproject.toml's ranges."""
import re

import tomllib
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every pin in requirements.lock."""
    pins = {}
    for block in re.split(r"\n(?=\S)", (ROOT / "requirements.lock").read_text()):
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", block)
        if m:
            pins[canonicalize_name(m[1])] = (m[3], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_lock_pins_every_dependency_inside_its_range_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for extra in ("test", "slurm") for r in project["optional-dependencies"][extra]]
    pins = _locked()
    assert len(pins) > 50
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    for line in wanted:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == "torch":  # installed on its own, first: each machine takes its own build
            assert name not in pins
            assert req.specifier.contains("2.13.0"), req  # the CPU build .ci/run installs
            continue
        assert name in pins, f"{req.name} is not pinned in requirements.lock"
        assert req.specifier.contains(pins[name][0]), f"{req.name}=={pins[name][0]} is outside {req.specifier}"
