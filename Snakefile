# taskladder: predict task accuracy of a large language model from a ladder of small ones.
#   snakemake --cores all                                   # the embedded default (config.yaml)
#   snakemake --cores 1 --configfile configs/olmo-paper-import.yaml --config olmo_ladder_dir=DIR
import re
import sys

sys.path.insert(0, workflow.basedir)

from taskladder.config import validate
from taskladder.experiment import fit_options, plan, rule_resources

if not workflow.overwrite_configfiles:  # a --configfile replaces the embedded default instead of merging into it
    configfile: "config.yaml"

validate(config)
EXP = plan(config, warn=lambda msg: print(f"WARNING: {msg}", file=sys.stderr))
RESULTS = str(EXP.results)
FIGURES = ["step1", "step2", "chained"]
FMT = config["figures"]["format"]
RESOURCES = rule_resources(config)  # per rule family: memory, time, partition, GPUs (SLURM)


RELEASED = []  # flags of train.keep_checkpoints: final (rules/evaluate.smk)
if config.get("ladder"):  # train and evaluate a ladder here; otherwise every run is imported

    include: "rules/data.smk"
    include: "rules/train.smk"
    include: "rules/evaluate.smk"


include: "rules/import.smk"
include: "rules/fit.smk"
include: "rules/analyses.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        f"{RESULTS}/predictions.csv",
        f"{RESULTS}/fits.csv",
        expand(f"{RESULTS}/figures/{{method}}/{{figure}}.{FMT}", method=EXP.methods, figure=FIGURES),
        ANALYSES,
        RELEASED,
