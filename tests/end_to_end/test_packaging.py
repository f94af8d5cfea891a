"""The install is reproducible: requirements.lock pins, with hashes, versions inside pyproject.toml's ranges; each
rule family's conda environment provides what its jobs import; a subpackage imports none above it."""
import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import yaml
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


# ---- what the code imports -------------------------------------------------------------------------

def imports_of(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every import in a Python file, inside functions too; `from a.b import c` gives a.b, and
    a.b.c where c is a module of this package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names
                      if module_file(f"{node.module}.{alias.name}")]
    return found


def module_file(module: str) -> Path | None:
    """The file of a module of taskladder (None for any other module)."""
    if module.split(".")[0] != "taskladder":
        return None
    base = ROOT.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def reachable(files) -> set[str]:
    """Every module the files import, directly or through taskladder's modules (imports inside functions too)."""
    seen, todo = set(), list(files)
    while todo:
        for module, _ in imports_of(todo.pop()):
            if module not in seen:
                seen.add(module)
                if module_file(module):
                    todo.append(module_file(module))
    return seen


ONLY = """
import importlib, json, re, sys
from importlib.machinery import PathFinder
dists, allowed, modules = (json.loads(a) for a in sys.argv[1:])

class Only(PathFinder):  # finds the env's modules and distributions only: the others look not installed
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return PathFinder.find_spec(name, path, target) if name.partition(".")[0] in allowed else None

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        return (d for d in PathFinder.find_distributions(*args, **kwargs)
                if re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() in dists)

sys.meta_path[:] = [Only if finder is PathFinder else finder for finder in sys.meta_path]
failed = {}
for module in modules:
    try:
        importlib.import_module(module)
    except ImportError as e:
        failed[module] = str(e)
print(json.dumps(failed))
"""


def env_scripts() -> dict[str, list[Path]]:
    """env -> the scripts of the rules that run in it (each rule's `conda:` and `script:` in rules/*.smk)."""
    envs = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for rule in re.split(r"\n(?=rule )", path.read_text())[1:]:
            env = re.search(r'conda: "\.\./envs/(\w+)\.yaml"', rule)[1]
            envs.setdefault(env, []).append(ROOT / "scripts" / re.search(r'script: "\.\./scripts/(\w+\.py)"', rule)[1])
    return envs


def env_distributions(env: str) -> set[str]:
    """The distributions an env installs: its packages and their requirements (as installed here), by canonical
    name."""
    spec = yaml.safe_load((ROOT / "envs" / f"{env}.yaml").read_text())["dependencies"]
    names = [d for d in spec if isinstance(d, str)] + [p for d in spec if isinstance(d, dict) for p in d["pip"]]
    todo = [CONDA_NAMES.get(Requirement(n).name, Requirement(n).name) for n in names]
    dists = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in dists or name in ("python", "pip"):
            continue
        dists.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [r.name for r in map(Requirement, requires) if not r.marker or r.marker.evaluate({"extra": ""})]
    return dists


CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name
# modules a rule family's code uses through another package, which no import statement names
USED_THROUGH = {"fit": ["pyarrow"]}  # pandas.read_parquet: imported parquet tables (taskladder.imports)
# modules named in code that a rule family's modules hold but its rules never run
NOT_RUN = {"fit": {"huggingface_hub",  # taskladder.imports.sources.link_checkpoint: rule link_checkpoint (evaluate)
                   "olmo_eval"}}  # taskladder.tasks.olmes.build_olmes: rule prepare_task (evaluate)


@pytest.mark.parametrize("env", ["evaluate", "fit", "train"])
def test_each_environment_provides_what_its_jobs_import(env):
    """Every module the env's scripts import, directly or through taskladder (imports inside functions too), imports
    with only the env's packages (envs/ENV.yaml and their requirements) and the standard library importable."""
    modules = sorted(m for m in reachable(env_scripts()[env]) if m.split(".")[0] not in NOT_RUN.get(env, ()))
    dists = env_distributions(env)
    allowed = {module for module, of in metadata.packages_distributions().items()
               if any(canonicalize_name(d) in dists for d in of)}
    allowed |= set(sys.stdlib_module_names) | {"taskladder", sysconfig._get_sysconfigdata_name()}
    proc = subprocess.run([sys.executable, "-c", ONLY, json.dumps(sorted(dists)), json.dumps(sorted(allowed)),
                           json.dumps(modules + USED_THROUGH.get(env, []))],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {}, f"envs/{env}.yaml lacks what these modules import"


# the subpackages, bottom to top: each imports only those before it
LAYERS = ["base", "tasks", "corpus", "train", "evaluate", "imports", "fit", "analyses", "synthetic", "report", "planner",
          "workflow", "cli"]


def test_no_subpackage_imports_one_above_it():
    """Every import of every module (inside functions too) names a subpackage at or below the module's own."""
    package = ROOT / "taskladder"
    assert sorted(p.stem for p in package.iterdir() if not p.name.startswith("_")) == sorted(LAYERS)
    upward = []
    for path in sorted(package.rglob("*.py")):
        mine = path.relative_to(package).with_suffix("").parts[0]
        for module, line in imports_of(path):
            theirs = module.split(".")[1] if module.startswith("taskladder.") else None
            if mine in LAYERS and theirs in LAYERS and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {mine} imports {module}, a layer above it")
    assert not upward, "\n".join(upward)


NO_TORCH = """
import importlib, json, pkgutil, sys
import taskladder.fit, taskladder.imports, taskladder.planner
from taskladder.base.config import load_config
from taskladder.workflow.experiment import plan

steps = [(f"importing {m.name}", lambda m=m: importlib.import_module(m.name)) for package in (taskladder.imports,
         taskladder.fit, taskladder.planner) for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
steps += [(f"planning {path}", lambda path=path: plan(load_config(path), warn=lambda msg: None))
          for path in json.loads(sys.argv[1])]
first = "the plan's imports" if "torch" in sys.modules else None
for what, step in steps:
    if first is not None:
        break
    step()
    if "torch" in sys.modules:
        first = what
print(json.dumps(first))
"""


def test_the_plan_imports_and_fits_never_import_torch():
    """The plan (of a ladder trained here, of imported run logs, of an imported table) and every module of
    taskladder.imports, taskladder.fit and taskladder.planner: none imports torch (the fit environment has none)."""
    configs = [str(ROOT / "configs" / name) for name in ("smoke.yaml", "synthetic.yaml", "sweep-example.yaml")]
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, json.dumps(configs)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    step = json.loads(proc.stdout.splitlines()[-1])
    assert step is None, f"torch was imported by {step}"
