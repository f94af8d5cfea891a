"""Benchmark: the workflow's fit stage on a sweep shaped like a real one, against an earlier commit.

The sweep (`taskladder.synthetic.sweeps`): 6 data recipes x 23 model sizes x 4 data multiples (92 runs each, one
final checkpoint per run), 7 tasks, task loss in nats per token, accuracy and LM loss; one recipe stays at chance
on one task. The fit stage: every default method (two_step, flops, lm_loss, single_step, flp) and the ensemble, per
recipe, with intervals and backtests, then the summary tables and the group comparison (`snakemake
analyses/group_comparison.csv`, figures left out), on `--cores` cores.

The same run at `--baseline` (a commit, checked out into a temporary worktree) takes hours, so the ratio is
measured on a part of the sweep that both run (`--baseline-groups`, `--baseline-tasks`; without the recipe that
stays at chance, on which the older code stops); `--baseline full` runs the whole sweep there too.

    python bench/sweep_fit.py                       # the whole sweep, and the ratio on one recipe x 2 tasks
    python bench/sweep_fit.py --baseline none       # the whole sweep only
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from taskladder.synthetic.sweeps import RECIPES, TASKS, write_recipe_sweep  # noqa: E402

METHODS = ("two_step", "flops", "lm_loss", "single_step", "flp", "ensemble")
TARGET = {"7B-1.4T": {"n": 7_000_000_000, "d": 1_400_000_000_000}}  # about 20x the sweep's largest run
DONE = re.compile(r"(\w+): done in ([\d.]+) s \(([\d.]+) s of CPU\)")
STAGES = {"import_table": "import", "import_group": "import", "fit_method": "fit (methods)",
          "fit_ensemble": "fit (ensemble)", "tables": "summary tables", "group_comparison": "group comparison"}


def workdir(root: Path, groups, tasks) -> tuple[Path, list[str]]:
    """A folder with the sweep's table and a config that fits it; returns it and the Snakemake target."""
    root.mkdir(parents=True, exist_ok=True)
    entry = write_recipe_sweep(root / "sweep.csv", groups=tuple(groups), tasks=tuple(tasks))
    entry["file"] = "sweep.csv"
    config = {"experiment": "sweep", "imported": {"sweep": entry}, "targets": TARGET,
              "fit": {"tasks": list(tasks)}, "methods": {m: {} for m in METHODS}}
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root, ["results/sweep/analyses/group_comparison.csv"]


def run(snakefile: Path, folder: Path, target: list[str], cores: int) -> tuple[float, dict]:
    """Wall time of the fit stage and, per stage, the summed wall and CPU time of its jobs (from their logs); the
    CPU time of the whole run (Snakemake and every job: the processes it waited for) as the stage "(all)"."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory",
                           str(folder), "--configfile", str(folder / "config.yaml"), "--cores", str(cores),
                           "--keep-going", *target], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
    stages: dict[str, list[float]] = {}
    for log in (folder / "results" / "sweep" / "logs").rglob("*.log"):
        for rule, seconds, cpu in DONE.findall(log.read_text()):
            s = stages.setdefault(STAGES.get(rule, rule), [0.0, 0.0, 0])
            s[0], s[1], s[2] = s[0] + float(seconds), s[1] + float(cpu), s[2] + 1
    stages["(all: Snakemake and jobs)"] = [wall, used, 1]
    return wall, stages


def baseline_snakefile(commit: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), commit], check=True,
                   capture_output=True)
    return into / "Snakefile"


def report(name: str, wall: float, stages: dict) -> None:
    print(f"{name}: fit stage {wall:.1f} s wall")
    for stage, (seconds, cpu, jobs) in sorted(stages.items()):
        print(f"  {stage:20s} {jobs:4d} jobs  {seconds:8.1f} s in jobs  {cpu:8.1f} s CPU")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", type=int, default=len(RECIPES), help="data recipes (at most 6)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--baseline", default="9df5220", help="commit to compare with ('none': no comparison)")
    p.add_argument("--baseline-groups", nargs="+", default=["web"])
    p.add_argument("--baseline-tasks", nargs="+", default=["hellaswag", "arc_easy"])
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-fit-") as tmp:
        tmp = Path(tmp)
        folder, target = workdir(tmp / "full", RECIPES[:args.groups], TASKS)
        wall, stages = run(ROOT / "Snakefile", folder, target, args.cores)
        report(f"this checkout, {args.groups} recipes x {len(TASKS)} tasks", wall, stages)
        if args.baseline == "none":
            return 0
        full = args.baseline_groups == ["full"]
        groups, tasks = (RECIPES[:args.groups], TASKS) if full else (args.baseline_groups, args.baseline_tasks)
        part, target = workdir(tmp / "part", groups, tasks)
        new_wall, new_stages = run(ROOT / "Snakefile", part, target, args.cores)
        old_snakefile = baseline_snakefile(args.baseline, tmp / "baseline")
        try:
            old_part, _ = workdir(tmp / "part-old", groups, tasks)
            old_wall, old_stages = run(old_snakefile, old_part, target, args.cores)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline")],
                           capture_output=True)
        key = "(all: Snakemake and jobs)"
        new_cpu, old_cpu = new_stages[key][1], old_stages[key][1]
        print(f"the same part ({', '.join(groups)} x {', '.join(tasks)}): this checkout {new_wall:.1f} s wall, "
              f"{new_cpu:.1f} s CPU; {args.baseline} {old_wall:.1f} s wall, {old_cpu:.1f} s CPU")
        print(f"speedup={old_wall / new_wall:.1f} (wall)  speedup_cpu={old_cpu / max(new_cpu, 1e-9):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
