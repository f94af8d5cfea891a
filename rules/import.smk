# Results logged elsewhere -> the long metrics table.
# A run log (an OLMo-ladder CSV, and a measured target's) is imported by its own job.


rule import_run:
    input: lambda w: EXP.source(w.run).path,
    output: EXP.metrics("{run}"),
    wildcard_constraints: run=EXP.pattern("imported"),
    params: n=lambda w: EXP.source(w.run).n, format="olmo_ladder",
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{run}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_run.py"


# An imported table (read and checked when the plan is made): one job per entry, or per entry and group. The table
# is an ancient input and the digest of the job's own rows its param, so a job reruns when its rows change, and
# only then: an edited row reruns its group, a new group or run adds or reruns only its group's job.
rule import_table:
    input: ancient(EXP.table_file),
    output: EXP.table_metrics("{entry}"),
    wildcard_constraints: entry=EXP.pattern("table"),
    params: digest=EXP.table_digest,
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{entry}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_table.py"


rule import_group:
    input: ancient(EXP.table_file),
    output: EXP.table_metrics("{entry}", "{group}"),
    wildcard_constraints: entry=EXP.pattern("grouped"), group=EXP.pattern("table_group"),
    params: digest=EXP.table_digest,
    resources: **EXP.resources["fit"],
    log: EXP.log("import/{entry}/{group}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/import_table.py"
