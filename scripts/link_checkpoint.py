"""Workflow script: link an existing checkpoint into the layout training writes."""
from taskladder.base.log import script
from taskladder.imports.sources import link_checkpoint

with script(snakemake) as log:
    source = snakemake.params.job
    link_checkpoint(source, snakemake.output[0])
    log.info("%s step %s: linked %s", snakemake.wildcards.run, snakemake.wildcards.step,
             source.get("path") or f"{source['hub']}@{source.get('revision') or 'main'}")
