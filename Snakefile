# taskladder: predict task accuracy of a large language model from a ladder of small ones.
#   snakemake --cores all                                   # the embedded default (config.yaml)
#   snakemake --cores 1 --configfile configs/olmo-paper-import.yaml --config olmo_ladder_dir=DIR
# One plan, EXP (taskladder.workflow.experiment.Experiment), knows every run, checkpoint, task and path; the
# rule files read EXP, and define nothing another file reads. Every rule's params are one `job` (EXP.job(rule)).
import os
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")]))


envvars:
    "PYTHONPATH",  # jobs import taskladder from this checkout (and a cluster's jobs get it too)


from taskladder.base.config import check_command_line, validate
from taskladder.workflow.experiment import plan
from taskladder.workflow.recovery import record_owner, recover

if not workflow.overwrite_configfiles:  # a --configfile replaces the embedded default instead of merging into it
    configfile: "config.yaml"

try:  # a bad config (or a file it names) ends with one line saying what and where, before any job
    check_command_line(workflow.configfiles, workflow.config_settings.config_args)  # no key twice, no bad YAML
    EXP = plan(validate(config, ", ".join(map(str, workflow.configfiles)) or "config"),
               warn=lambda msg: print(f"WARNING: {msg}", file=sys.stderr), check_registries=workflow.is_main_process)
except ValueError as e:
    sys.exit(f"Error: {e}")
if workflow.is_main_process and not workflow.dryrun:  # after a killed Snakemake: stop its jobs, clear its lock
    recover(".snakemake", log=lambda msg: print(f"WARNING: {msg}", file=sys.stderr))

    onstart:
        record_owner(".snakemake")


wildcard_constraints:
    step=EXP.pattern("step"),
    chunk=EXP.pattern("chunk"),
    method=EXP.pattern("method"),
    task=EXP.pattern("task"),
    group=EXP.pattern("group"),


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
        EXP.outputs,


# Targets that rerun one part alone: snakemake method_<name> | ablations | analyses | train_all,
# and each analysis by its rule's name (variance, compute_vs_error).
for name in EXP.fits.methods:

    rule:
        name:
            f"method_{name}"
        input:
            EXP.fits.method_outputs(name),


rule ablations:
    input:
        [f for m in EXP.fits.methods if m != "two_step" for f in EXP.fits.method_outputs(m)],


rule analyses:
    input:
        [f for files in EXP.fits.analyses.values() for f in files],


rule train_all:
    input:
        EXP.train.final_checkpoints,
