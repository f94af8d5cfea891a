"""Snakemake: train one run to a checkpoint step (taskladder.train), under torchrun if train.nproc > 1."""
import logging
import subprocess
import sys
import tempfile

import yaml

snakemake = globals()["snakemake"]
p = snakemake.params
config = dict(p.config)
# options that do not change the weights are not params (changing them must not retrain)
config["train"] = {**p.config["train"], **{k: snakemake.config["train"][k] for k in ("log_every", "keep_checkpoints")}}
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
corpus = str(snakemake.input.manifest).rsplit("/", 1)[0]
run_dir = str(snakemake.output[0]).rsplit("/", 1)[0]
nproc = config["train"]["nproc"]
if nproc == 1:
    from taskladder.train import train_from_config

    train_from_config(config, p.run, int(p.until), corpus, run_dir)
else:
    with tempfile.TemporaryDirectory() as tmp, open(snakemake.log[0], "a") as log:
        configfile = f"{tmp}/config.yaml"
        with open(configfile, "w") as fh:
            yaml.safe_dump(config, fh)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "taskladder.train", "--configfile", configfile, "--rung", p.run, "--until", str(p.until),
               "--corpus", corpus, "--run-dir", run_dir]
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
