"""Workflow script: an existing checkpoint -> results/{experiment}/checkpoints/{run}/step{step:07d}/ (linked)."""
from taskladder.base.log import script
from taskladder.imports.sources import link_checkpoint

with script(snakemake) as log:
    source = snakemake.params.source
    link_checkpoint(source, snakemake.output[0])
    log.info("%s step %s: linked %s", snakemake.wildcards.run, snakemake.wildcards.step,
             source.get("path") or f"{source['hub']}@{source.get('revision') or 'main'}")
