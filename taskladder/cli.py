"""The `taskladder` command: the workflow's steps, usable outside Snakemake.

    taskladder import FILE --run NAME --n N -o metrics/NAME.csv   ladder log -> metrics table
    taskladder fit METRICS_DIR --target 7B-4T=N,D [-o OUT]        fit, predict, write tables (+ figures)
    taskladder example OUT_DIR [--sweep]                          write the bundled synthetic ladder (or sweep)
    taskladder ladder --configfile F [--csv]                      the rung table of a config
    taskladder check --configfile F [--config KEY=VALUE ...]      check a workflow config as the workflow does
    taskladder plan --target NAME=N,D [--budget B] [--from METRICS] [-o OUT]   candidate ladders, the one to train

A bad input ends with one line naming what was wrong and where, and exit status 2.

A command never writes onto one of its inputs, nor (without --force) onto an existing file that a taskladder
command did not write: each folder it writes into lists the files it writes there in `.taskladder-outputs`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

from taskladder.base.config import ConfigError, load_config, split_overrides, validate
from taskladder.base.files import write_csv, write_text
from taskladder.base.log import setup_logging
from taskladder.base.metrics_table import MIN_PARAMS, InputError
from taskladder.base.names import RULE, check_name, is_safe


def _positive(kind):
    """An argparse type: a finite number > 0 (`6.9e9` is accepted where an integer is wanted when whole)."""
    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0) or (kind is int and not value.is_integer()):
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number > 0, found {text!r}")
        return kind(value)

    return parse


def _count(text: str) -> int:
    """An argparse type: a parameter count, a whole number >= MIN_PARAMS and below 2^63 (the metrics table's 64-bit
    integer)."""
    value = _positive(int)(text)
    if value < MIN_PARAMS:
        raise argparse.ArgumentTypeError(f"expected a parameter count >= {MIN_PARAMS} (1.3e9, not 1.3: a count, not "
                                         f"millions or billions), found {text!r}")
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number below 2^63 (a 64-bit integer), found {text!r}")
    return value


def _run_name(text: str) -> str:
    """An argparse type: a run's name, a safe name (it names the run's metrics file, {run}.csv, as fit reads them)."""
    if not is_safe(text):
        raise argparse.ArgumentTypeError(f"run name {text!r} cannot name a file; expected {RULE}")
    return text


def _seed(text: str) -> int:
    """An argparse type: a seed of numpy's generator, a whole number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0 and value.is_integer()):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, found {text!r}")
    return int(text) if text.strip().isdigit() else int(value)


def _parse_target(text: str) -> tuple[str, dict]:
    name, _, nd = text.partition("=")
    parts = nd.split(",")
    usage = f"expected NAME=N,D with N parameters and D tokens, both > 0 (e.g. 7B-4T=6.89e9,3.95e12), found {text!r}"
    if not name or len(parts) != 2:
        raise argparse.ArgumentTypeError(usage)
    try:
        n, d = (_positive(int)(v) for v in parts)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(usage) from None
    if n < MIN_PARAMS:
        raise argparse.ArgumentTypeError(f"{usage}: N = {n} is below {MIN_PARAMS} parameters (a count, not millions "
                                         "or billions)")
    check_name("target", name, text, argparse.ArgumentTypeError)  # it names the run, its file and a plan's config key
    return name, {"n": n, "d": d, "flops": None}


def _config_args(p, required: bool = False):
    p.add_argument("--configfile", required=required, help="workflow config (YAML)")
    p.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys (dotted keys reach nested ones: fit.window=7)")


def _load(args) -> dict:
    overrides = split_overrides(args.config)
    if args.configfile is None:
        overrides.setdefault("experiment", "cli")
    return load_config(args.configfile, overrides)


OUTPUTS = ".taskladder-outputs"  # in each folder a command writes into: the names of the files it writes there


def _listed(folder: Path) -> set[str]:
    """The files a taskladder command wrote in `folder` (its OUTPUTS list)."""
    listed = folder / OUTPUTS
    return set(listed.read_text().splitlines()) if listed.is_file() else set()


def _claim(outputs, inputs, force: bool) -> None:
    """Check, before anything is computed, that the command may write `outputs`: none is one of its `inputs`, and
    none is an existing file a taskladder command did not write (unless --force); then list them as its own."""
    inputs = {Path(p).resolve() for p in inputs}
    folders = defaultdict(set)
    for out in map(Path, outputs):
        if out.resolve() in inputs:
            raise InputError(f"{out}: an input of this command, which its output would replace; expected an output "
                             "path that is not an input (--force does not change this)")
        if out.exists() and not force and out.name not in _listed(out.parent):
            raise InputError(f"{out}: an existing file that taskladder did not write (it is not in "
                             f"{out.parent / OUTPUTS}); expected a new path, or --force to overwrite it")
        folders[out.parent].add(out.name)
    for folder, names in folders.items():
        write_text("".join(f"{name}\n" for name in sorted(_listed(folder) | names)), folder / OUTPUTS)


def _once(values: list[str], flag: str) -> None:
    """Each NAME of a repeatable option given once: two of them would leave which one counts to chance."""
    twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if twice is not None:
        raise InputError(f"{flag} {twice}: given twice; expected each {flag} once")


def _output(out: str | Path, directory: bool) -> Path:
    """Check `-o` before anything is computed: a directory (or a file) that this user can write."""
    out = Path(out)
    expected = "a directory (new or existing)" if directory else "the path of a file to write"
    if out.exists() and out.is_dir() != directory:
        raise InputError(f"-o {out}: an existing {'file' if directory else 'directory'}; expected {expected}")
    parent = out if out.exists() and directory else out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise InputError(f"-o {out}: {parent} is not writable by this user; expected {expected} that it can write")
    return out


# ---- subcommands ----------------------------------------------------------------------------

def _import_args(p):
    p.add_argument("file", help="a ladder log (OLMo-ladder CSV)")
    p.add_argument("--run", required=True, type=_run_name, help="run name written to the table, e.g. 190M-1xC")
    p.add_argument("--n", required=True, type=_count, help="non-embedding parameters of the run")
    p.add_argument("-o", "--out", required=True, help="metrics table to write (CSV)")
    _force_arg(p)


def _force_arg(p):
    p.add_argument("--force", action="store_true", help="overwrite existing files that taskladder did not write")


def import_command(args) -> None:
    from taskladder.imports.entry import KNOWN_TASKS
    from taskladder.imports.tables import read_olmo_ladder

    out = _output(args.out, directory=False)
    _claim([out], [args.file], args.force)
    try:
        metrics = read_olmo_ladder(args.file, args.run, args.n, KNOWN_TASKS)
    except UnicodeDecodeError as e:
        raise InputError(f"{args.file}: not UTF-8 text ({e.reason} at byte {e.start}); expected a UTF-8 CSV file")
    write_csv(metrics, out)
    print(f"wrote {out}")


def _fit_args(p):
    p.add_argument("metrics", help="directory of metrics tables ({run}.csv), or one CSV file")
    p.add_argument("--target", action="append", type=_parse_target, default=[],
                   help="NAME=N,D: a model to predict; if the metrics hold a run NAME, it gives the actuals "
                        "and is left out of the ladder (repeatable)")
    _config_args(p)
    p.add_argument("--method", action="append", help="fit only these methods (default: all in the config)")
    p.add_argument("-o", "--out", default="taskladder-fit", help="output directory (default: %(default)s)")
    p.add_argument("--figures", action="store_true", help="also render the figures of each method")
    _force_arg(p)


def _no_target_runs(ladder, src: Path, targets) -> None:
    """No ladder table holds a run named like a --target: fitted as a rung, the target would predict itself."""
    run = next((r for r in ladder["run"].unique() if r in targets), None)
    if run is not None:
        raise InputError(f"{src}: a ladder table holds run {run}, named like --target {run}; expected the target's "
                         f"metrics in a file of their own, {run}.csv, which gives its actuals and is left out of the "
                         "ladder")


def fit_command(args) -> None:
    """The workflow's fit stage on a metrics directory: the same jobs (taskladder.workflow.fitting), in order."""
    from taskladder.analyses.summary import ANALYSIS_TABLES, TABLES, run_summary_job
    from taskladder.base.metrics_table import read_metrics
    from taskladder.fit.ensemble import members, run_ensemble_job
    from taskladder.fit.methods import run_fit_job, unfittable
    from taskladder.workflow.fitting import ensemble_job, fit_job, summary_job
    from taskladder.workflow.layout import Layout

    config = _load(args)
    _once([name for name, _ in args.target], "--target")
    _once(args.method or [], "--method")
    targets = dict(args.target)
    src = Path(args.metrics)
    if not src.exists():
        raise InputError(f"{src}: no such metrics directory or file")
    files = sorted(src.glob("*.csv")) if src.is_dir() else [src]
    if not files:
        raise InputError(f"{src}: no metrics tables (*.csv) found")
    target_files = [f for f in files if f.stem in targets]
    ladder_files = [f for f in files if f.stem not in targets]
    if not ladder_files:
        raise InputError(f"{src}: only the metrics of --target {', '.join(f.stem for f in target_files)}; expected "
                         "ladder runs' tables ({run}.csv) beside them")
    methods = args.method or list(config["methods"])
    unknown = [m for m in methods if m not in config["methods"]]
    if unknown:
        raise ConfigError(f"--method {unknown[0]}: not defined; methods: {sorted(config['methods'])}")
    out = _output(args.out, directory=True)
    layout = Layout(out, figure_format=config["figures"]["format"])
    ensembles = [m for m in methods if "ensemble" in config["methods"][m]]
    tables = {m: layout.method_tables(m, m in ensembles) for m in methods}
    outputs = {t: layout.table(t) for t in TABLES} | {t: layout.analysis(t) for t in ANALYSIS_TABLES}
    figures = {m: layout.figures(m, m in ensembles) for m in methods} if args.figures else {}
    _claim([p for written in [*tables.values(), outputs, *figures.values()] for p in written.values()], files,
           args.force)
    ladder = read_metrics(ladder_files)
    _no_target_runs(ladder, src, targets)
    for name in [m for m in methods if m not in ensembles]:  # a method that can predict nothing: say why, first
        job = fit_job(config, name, targets)
        unfit = unfittable(name, job.spec, ladder, job.tasks, job.options)
        if len(unfit) == len(job.tasks):
            raise next(iter(unfit.values()))
    for name in [m for m in methods if m not in ensembles]:
        run_fit_job(fit_job(config, name, targets), ladder_files, target_files, [], tables[name])
    for name in ensembles:
        member = [tables[m] for m in members(config["methods"], name) if m in tables]
        if not member:
            raise InputError(f"--method {name}: an ensemble of {members(config['methods'], name)}, none of which is "
                             "fitted here; expected some of them as --method too")
        run_ensemble_job(ensemble_job(config, name), *([t[k] for t in member] for k in (
            "predictions", "backtest", "draws", "calibration")), tables[name])
    inputs = {t: [p[t] for p in tables.values() if t in p] for t in ("predictions", "fits", "backtest", "calibration",
                                                                      "weights")}
    run_summary_job(summary_job(config), inputs | {"ladder": ladder_files}, outputs)
    if args.figures:
        from taskladder.report.jobs import figures_job

        for name in methods:
            figures_job(name, {"figures": config["figures"]}, tables[name] | {"summary": outputs["predictions"]},
                        figures[name])
    print(f"wrote {outputs['predictions']}, {outputs['fits']} and {out / 'analyses'}")


def _example_args(p):
    p.add_argument("out", help="directory to write the synthetic ladder logs into")
    p.add_argument("--seed", type=_seed, default=0, help="a whole number >= 0 (default: %(default)s)")
    p.add_argument("--sweep", action="store_true", help="write the synthetic sweep of three data recipes instead "
                                                        "(sweep.csv, read by configs/sweep-example.yaml)")
    _force_arg(p)


def example_command(args) -> None:
    from taskladder.synthetic.ladders import (
        SWEEP_FILE,
        example_files,
        write_example,
        write_sweep,
    )

    out = _output(args.out, directory=True)
    _claim([out / SWEEP_FILE] if args.sweep else example_files(out), [], args.force)
    files = [write_sweep(out, seed=args.seed)] if args.sweep else write_example(out, seed=args.seed)
    print(f"wrote {len(files)} files to {args.out}")


def _ladder_args(p):
    _config_args(p, required=True)
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    p.add_argument("--vocab-size", type=_positive(int), default=None,
                   help="tokenizer vocabulary, when the config does not set ladder.vocab_size")


def ladder_command(args) -> None:
    from taskladder.train.ladder import build, table_rows

    rows = table_rows(build(_load(args), args.vocab_size))
    if args.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.rjust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).rjust(widths[c]) for c in cols))


def check_command(args) -> None:
    from taskladder.workflow.experiment import plan

    exp = plan(_load(args), warn=lambda msg: print(f"warning: {msg}", file=sys.stderr))
    runs, ckpts = exp.runs, exp.train.checkpoints
    checkpoints = sum(len(s) for s in ckpts.values())
    here = ", ".join([f"{len(runs.trained)} trained here"] * bool(runs.trained or not runs.external)
                     + [f"{len(runs.external)} of existing checkpoints"] * bool(runs.external))
    trained = (f", {here} ({checkpoints} checkpoints of {len(ckpts)} runs to "
               f"evaluate on {len(exp.evaluation.tasks)} tasks)") if ckpts else ", all imported"
    groups = f" in groups {runs.groups} (a ladder each)" if runs.groups else ""
    print(f"{args.configfile or 'config'}: valid. Experiment {exp.name} ({exp.results}): {len(runs.ladder_runs)} "
          f"ladder runs{groups}{trained}; targets {list(runs.targets)}; methods {list(exp.fits.methods)}; "
          f"tasks {exp.fits.tasks}")


def _plan_args(p):
    p.add_argument("--target", required=True, type=_parse_target,
                   help="NAME=N,D: the model the ladder is for (N parameters, D tokens)")
    p.add_argument("--budget", default=None,
                   help="the ladder's compute: a fraction of the target's in (0, 1] (0.03 or 3%%), or FLOPs (5e21); "
                        "default: the config's planner.budget")
    p.add_argument("--from", dest="source", default=None, metavar="METRICS",
                   help="a ladder's metrics (a directory of {run}.csv, or one CSV) to simulate from: its fitted laws, "
                        "noise and backtests (default: the paper's ladder; a run named like the target is left out)")
    p.add_argument("--draws", type=_positive(int), default=None,
                   help="simulated ladders per candidate and task (default: the config's planner.draws)")
    _config_args(p)
    p.add_argument("-o", "--out", default="taskladder-plan", help="output directory (default: %(default)s)")
    _force_arg(p)


def _budget(text: str) -> float:
    """--budget: a number, or a percentage (3%); its range is checked against the target (budget_flops)."""
    value = text.strip()
    try:
        return float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise InputError(f"--budget {text}: expected a fraction of the target's compute in (0, 1] (0.03 or 3%) or "
                         "FLOPs (5e21)") from None


def plan_command(args) -> None:
    """Candidate ladders for a target, their expected error, the recommended one as a config (taskladder.planner)."""
    from taskladder.base.metrics_table import read_metrics
    from taskladder.planner.candidates import budget_flops, candidates, grid
    from taskladder.planner.plan import outputs, plan_for, summary_lines, write_plan

    config = _load(args)
    if args.draws is not None:  # within the range of planner.draws, which it overrides
        validate({**config, "planner": {**config["planner"], "draws": args.draws}}, "--draws")
    settings = config["planner"]
    name, target = args.target
    budget = settings["budget"] if args.budget is None else _budget(args.budget)
    budget_flops(budget, target, "planner.budget" if args.budget is None else "--budget")
    candidates(grid(config, settings["multiples"], settings["seeds"]), target)  # said before anything is read
    files = []
    if args.source is not None:
        src = Path(args.source)
        if not src.exists():
            raise InputError(f"--from {src}: no such metrics directory or file")
        files = [f for f in (sorted(src.glob("*.csv")) if src.is_dir() else [src]) if f.stem != name]
        if not files:
            raise InputError(f"--from {src}: no metrics tables (*.csv) found")
    out = _output(args.out, directory=True)
    paths = outputs(out, config["figures"]["format"])
    _claim(paths.values(), files, args.force)
    metrics = read_metrics(files) if files else None
    plan = plan_for(config, name, target, metrics, f"the ladder of --from {args.source}", budget, args.draws)
    write_plan(plan, paths, config, config["figures"]["format"], config["figures"]["dpi"])
    print("\n".join(summary_lines(plan)))
    print(f"wrote {paths['plan']}, {paths['tasks']}, {paths['figure']} and {paths['config']}")


SUBCOMMANDS = {  # name -> (help, add_arguments(parser), run(args))
    "import": ("convert a ladder log into the metrics table", _import_args, import_command),
    "fit": ("fit the laws on a metrics directory and predict targets", _fit_args, fit_command),
    "example": ("write the synthetic example ladder (OLMo-ladder CSV format)", _example_args, example_command),
    "ladder": ("print the rung table of a config (n, d, batch, lr, warmup, steps, checkpoints, flops)", _ladder_args,
               ladder_command),
    "check": ("check a workflow config (schema, files, names, schedules) as the workflow does before any job",
              _config_args, check_command),
    "plan": ("plan a ladder for a target: candidates, their compute and expected error, the one to train as a config",
             _plan_args, plan_command),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="taskladder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(sub.add_parser(name, help=help, description=help))
    args = parser.parse_args(argv)
    setup_logging()
    try:
        SUBCOMMANDS[args.command][2](args)
    except (ConfigError, InputError, ValueError) as e:
        print(f"taskladder {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"taskladder {args.command}: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
