"""The `taskladder` command: the workflow's steps, usable outside Snakemake.

    taskladder import FILE --run NAME --n N -o metrics/NAME.csv   ladder log -> metrics table
    taskladder fit METRICS_DIR --target 7B-4T=N,D [-o OUT]        fit, predict, write tables (+ figures)
    taskladder example OUT_DIR                                    write the bundled synthetic ladder
    taskladder ladder --configfile F [--csv]                      the rung table of a config
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskladder.config import ConfigError, load_config
from taskladder.io import InputError, setup_logging

# name -> (help, add_arguments(parser), run(args)); other modules register their commands here
SUBCOMMANDS: dict = {}


def subcommand(name: str, help: str, add_arguments):
    def register(run):
        SUBCOMMANDS[name] = (help, add_arguments, run)
        return run

    return register


def _import_args(p):
    p.add_argument("file", help="a ladder log (OLMo-ladder CSV)")
    p.add_argument("--run", required=True, help="run name written to the table, e.g. 190M-1xC")
    p.add_argument("--n", required=True, type=int, help="non-embedding parameters of the run")
    p.add_argument("-o", "--out", required=True, help="metrics table to write (CSV)")


@subcommand("import", "convert a ladder log into the metrics table", _import_args)
def import_command(args) -> None:
    from taskladder.importers import KNOWN_TASKS, read_olmo_ladder
    from taskladder.io import write_csv

    write_csv(read_olmo_ladder(args.file, args.run, args.n, KNOWN_TASKS), args.out)
    print(f"wrote {args.out}")


def _parse_target(text: str) -> tuple[str, dict]:
    try:
        name, nd = text.split("=")
        n, d = (int(float(v)) for v in nd.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target expects NAME=N,D (e.g. 7B-4T=6.89e9,3.95e12), got {text!r}")
    return name, {"n": n, "d": d, "flops": None}


def _fit_args(p):
    p.add_argument("metrics", help="directory of metrics tables ({run}.csv), or one CSV file")
    p.add_argument("--target", action="append", type=_parse_target, default=[],
                   help="NAME=N,D: a model to predict; if the metrics hold a run NAME, it gives the actuals "
                        "and is left out of the ladder (repeatable)")
    p.add_argument("--configfile", help="take tasks, methods and fit options from this workflow config")
    p.add_argument("--method", action="append", help="fit only these methods (default: all in the config)")
    p.add_argument("-o", "--out", default="taskladder-fit", help="output directory (default: %(default)s)")
    p.add_argument("--figures", action="store_true", help="also render the figures of each method")


@subcommand("fit", "fit the laws on a metrics directory and predict targets", _fit_args)
def fit_command(args) -> None:
    from taskladder.experiment import fit_options
    from taskladder.io import concat_csv
    from taskladder.methods import fit_and_write

    config = load_config(args.configfile, None if args.configfile else {"experiment": "cli"})
    targets = dict(args.target)
    src = Path(args.metrics)
    if not src.exists():
        raise InputError(f"{src}: no such metrics directory or file")
    files = sorted(src.glob("*.csv")) if src.is_dir() else [src]
    if not files:
        raise InputError(f"{src}: no metrics tables (*.csv) found")
    target_files = [f for f in files if f.stem in targets]
    ladder_files = [f for f in files if f.stem not in targets]
    methods = args.method or list(config["methods"])
    out = Path(args.out)
    for name in methods:
        if name not in config["methods"]:
            raise ConfigError(f"--method {name}: not defined; methods: {sorted(config['methods'])}")
        paths = {k: out / "methods" / name / f"{k}.csv" for k in ("fits", "predictions", "points")}
        fit_and_write(name, config["methods"][name], ladder_files, target_files, targets, config["fit"]["tasks"],
                      fit_options(config), paths)
        if args.figures:
            import pandas as pd

            from taskladder import plots

            frames = [pd.read_csv(paths[k]) for k in ("fits", "predictions", "points")]
            fig = config["figures"]
            plots.method_figures(*frames, {f: out / "figures" / name / f"{f}.{fig['format']}" for f in plots.FIGURES},
                                 **fig)
    for table in ("fits", "predictions"):
        concat_csv([out / "methods" / m / f"{table}.csv" for m in methods], out / f"{table}.csv")
    print(f"wrote {out / 'fits.csv'} and {out / 'predictions.csv'}")


def _example_args(p):
    p.add_argument("out", help="directory to write the synthetic ladder logs into")
    p.add_argument("--seed", type=int, default=0)


@subcommand("example", "write the synthetic example ladder (OLMo-ladder CSV format)", _example_args)
def example_command(args) -> None:
    from taskladder.synthetic import write_example

    files = write_example(args.out, seed=args.seed)
    print(f"wrote {len(files)} files to {args.out}")


def _ladder_subcommand():
    from taskladder import ladder

    SUBCOMMANDS["ladder"] = ("print the rung table of a config (n, d, batch, lr, warmup, steps, checkpoints, flops)",
                             ladder.add_arguments, ladder.ladder_command)


_ladder_subcommand()


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
