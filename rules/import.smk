# Results logged elsewhere -> the long metrics table. A run log (an OLMo-ladder CSV, and a measured target's) is
# imported by its own job. An imported table (read and checked when the plan is made): one job per entry, or per entry
# and group; the table is an ancient input and the digest of the job's own rows is in its params, so a job reruns when
# its rows change, and only then.


rule import_run:
    input: EXP.imports.log_file,
    output: EXP.layout.metrics("{run}"),
    wildcard_constraints: run=EXP.pattern("imported"),
    params: job=EXP.job("import_run"),
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{run}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_run.py"


rule import_table:
    input: ancient(EXP.imports.table_file),
    output: EXP.layout.table_metrics("{entry}"),
    wildcard_constraints: entry=EXP.pattern("table"),
    params: job=EXP.job("import_table"),
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{entry}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_table.py"


rule import_group:
    input: ancient(EXP.imports.table_file),
    output: EXP.layout.table_metrics("{entry}", "{group}"),
    wildcard_constraints: entry=EXP.pattern("grouped"), group=EXP.pattern("table_group"),
    params: job=EXP.job("import_group"),
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{entry}/{group}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_table.py"
