# Ladder logs trained elsewhere (and measured targets) -> the long metrics table.


rule import_run:
    input:
        lambda w: EXP.source(w.run).path,
    output:
        f"{RESULTS}/metrics/{{run}}.csv",
    wildcard_constraints:
        run="|".join(map(re.escape, list(EXP.imported) + EXP.imported_targets)) or "^$",
    params:
        n=lambda w: EXP.source(w.run).n,
        format="olmo_ladder",
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/import/{{run}}.log",
    script:
        "../scripts/import_run.py"
