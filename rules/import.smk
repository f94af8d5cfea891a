# Ladder logs trained elsewhere (and measured targets) -> the long metrics table.


rule import_run:
    input: lambda w: EXP.source(w.run).path,
    output: EXP.metrics("{run}"),
    wildcard_constraints: run=EXP.pattern("imported"),
    params: n=lambda w: EXP.source(w.run).n, format="olmo_ladder",
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{run}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_run.py"
