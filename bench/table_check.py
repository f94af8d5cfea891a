"""`taskladder check` and a dry run on a big imported table: this checkout against an earlier commit's importer.

    python bench/table_check.py [--dir DIR] [--runs 2000] [--checkpoints 500] [--base 33ff54d] [--no-base]

Writes the table (`bench/big_table.py`; about 1 million rows, 200 MB as CSV) and a workflow config that imports it
into DIR (default: a temporary folder, removed at the end, as are the working folders), unless they are there
already. Then, each in a fresh working folder and
measured by `/usr/bin/time -v` (wall time, peak RSS):

- `taskladder check` by the `--base` commit (its files from `git archive`; the importer before tables were read in
  bounded memory and kept per content), and by this checkout, the first time (nothing kept yet) and again (the
  table unchanged: what it found is kept in .snakemake/taskladder-cache);
- `snakemake -n` of the unchanged workflow by this checkout, after that check.

Prints each time and peak RSS, the ratios against the base, and the load average before and after (the machine is
shared: compare runs made at a similar load).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measured(argv: list, cwd: Path, root: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, the command's last output line) of a command run under /usr/bin/time -v."""
    env = {**os.environ, "PYTHONPATH": str(root), "MPLCONFIGDIR": str(cwd)}
    proc = subprocess.run(["/usr/bin/time", "-v", *map(str, argv)], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode:
        sys.exit(f"{' '.join(map(str, argv))} failed in {cwd}:\n{proc.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    hours, minutes, seconds = (float(g or 0) for g in wall.groups())
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return hours * 3600 + minutes * 60 + seconds, rss, last


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="where the table and its config are (default: a temporary folder)")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument("--base", default="33ff54d", help="the commit to compare with")
    parser.add_argument("--no-base", action="store_true", help="measure this checkout only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="table-check-") as scratch:
        run(args, Path(scratch))


def run(args, scratch: Path) -> None:
    folder = args.dir or scratch / "table"
    config = folder / "config.yaml"
    if not config.exists():
        subprocess.run([sys.executable, ROOT / "bench" / "big_table.py", folder, "--runs", str(args.runs),
                        "--checkpoints", str(args.checkpoints)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    table = next(folder.glob("big.*"))
    print(f"{table}: {table.stat().st_size / 1e6:.0f} MB; {load()}")
    check = [sys.executable, "-m", "taskladder.cli", "check", "--configfile", config]
    results = {}
    if not args.no_base:
        base = scratch / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", ROOT, "archive", args.base], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        (scratch / "run-base").mkdir()
        results[f"check, {args.base}"] = measured(check, scratch / "run-base", base)
    work = scratch / "run"
    work.mkdir()
    results["check, first"] = measured(check, work, ROOT)
    results["check, again"] = measured(check, work, ROOT)
    results["dry run, again"] = measured([sys.executable, "-m", "snakemake", "-n", "--snakefile", ROOT / "Snakefile",
                                          "--configfile", config, "--cores", "1"], work, ROOT)
    print(f"{'':>20} {'wall s':>8} {'peak MB':>8}")
    for name, (wall, rss, _) in results.items():
        print(f"{name:>20} {wall:8.1f} {rss:8.0f}")
    if not args.no_base:
        (base_wall, base_rss, _), (wall, rss, _) = results[f"check, {args.base}"], results["check, first"]
        print(f"check, first against {args.base}: {base_wall / wall:.1f}x faster, {base_rss / rss:.1f}x less memory")
    print(results["check, first"][2])
    print(load())


if __name__ == "__main__":
    main()
