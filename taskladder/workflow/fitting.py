"""The plan of the fits, the summary tables, the analyses and the report (rules/fit.smk, analyses.smk, report.smk).

Each method is its own job, with only its own definition and the options every fit reads as params: changing one
reruns that method, and what gathers every method (the ensembles, the summary tables and, as the flags may change,
the figures). With groups (data recipes), every job below the summary is one per group.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from taskladder.analyses.summary import ANALYSIS_TABLES, TABLES, SummaryJob
from taskladder.base.params import canonical
from taskladder.fit.ensemble import EnsembleJob, members
from taskladder.fit.methods import FitJob, evidence_options, fit_options
from taskladder.workflow.imports import ImportPlan
from taskladder.workflow.layout import PlanPart
from taskladder.workflow.runs import Runs

HEADLINE_METHODS = ("ensemble", "two_step")  # the report's first page leads with the first there is




def fit_job(config: dict, method: str, targets: dict[str, dict], group: str | None = None) -> FitJob:
    """The job of fitting `method` (the workflow's and `taskladder fit`'s): its definition, the tasks, the fit and
    interval options, the targets (name -> n, d, flops and the run that measures it where named otherwise)."""
    return FitJob(method=method, spec=config["methods"][method], tasks=list(config["fit"]["tasks"]),
                  options=fit_options(config), intervals=config["intervals"], evidence=evidence_options(config),
                  targets=targets, group=group)


def ensemble_job(config: dict, method: str, group: str | None = None) -> EnsembleJob:
    return EnsembleJob(method=method, spec=config["methods"][method]["ensemble"], tasks=list(config["fit"]["tasks"]),
                       options=fit_options(config), intervals=config["intervals"], group=group)


def summary_job(config: dict, groups: dict[str, list[str]] | None = None) -> SummaryJob:
    """The summary tables' job: the tasks, the methods, the options the predictability measures read, the flags'
    thresholds; with groups, the ladder runs of each."""
    return SummaryJob(tasks=list(config["fit"]["tasks"]), methods=config["methods"], options=fit_options(config),
                      flags=config["flags"], groups=groups)


@dataclass(frozen=True)
class FitPlan(PlanPart):
    runs: Runs
    imports: ImportPlan
    tasks: list[str]
    variance: dict | None  # analyses.variance as it runs (its tasks resolved), None: not run
    cve_target: str | None  # target of the compute-vs-error analysis (needs measurements)

    # ---- methods ----------------------------------------------------------------------------------
    @property
    def methods(self) -> dict[str, dict]:
        return self.config["methods"]

    @property
    def fitted(self) -> list[str]:
        """The methods that fit laws (every method but the ensembles)."""
        return [m for m, spec in self.methods.items() if "ensemble" not in spec]

    @property
    def ensembles(self) -> list[str]:
        return [m for m, spec in self.methods.items() if "ensemble" in spec]

    def members(self, ensemble: str) -> list[str]:
        return members(self.methods, ensemble)

    def is_ensemble(self, method: str) -> bool:
        return method in self.ensembles

    def runs_of(self, method: str) -> list[str]:
        """The non-ladder runs a method's step 2 is fitted on."""
        return list((self.methods[method].get("step2") or {}).get("runs", []))

    @property
    def options(self) -> dict:
        return fit_options(self.config)

    def tables(self, method: str, group: str | None = None) -> dict[str, str]:
        """A method's own tables (of a group's ladder); "{method}", "{group}" give the wildcard form."""
        return self.layout.method_tables(method, self.is_ensemble(method), group)

    def figures(self, method: str, group: str | None = None) -> dict[str, str]:
        return self.layout.figures(method, self.is_ensemble(method), group)

    def method_outputs(self, method: str) -> list[str]:
        """Everything one method writes, for every group (`snakemake method_<name>` asks for it)."""
        return [f for g in self.runs.parts for f in (*self.tables(method, g).values(),
                                                     *self.figures(method, g).values())]

    # ---- jobs: fit, ensemble, summary, figures ---------------------------------------------------
    def fit_inputs(self, wildcards) -> dict[str, list[str]]:
        """What fitting a method (on a group's ladder) reads: the ladder's metrics, the measured targets', and the
        other runs its step 2 names."""
        group = getattr(wildcards, "group", None)
        measured = [t.run_in(group) for t in self.runs.targets.values() if t.run_in(group)]
        return {"ladder": self.imports.metrics_of(self.runs.ladder_of(group)),
                "targets": self.imports.metrics_of(measured), "others": self.imports.metrics_of(self.runs_of(wildcards.method))}

    def fit_job(self, wildcards) -> dict:
        """A method's fit job (FitJob): its definition, the tasks, the fit and interval options, the targets."""
        group = getattr(wildcards, "group", None)
        targets = {t.name: t.spec(group) for t in self.runs.targets.values()}
        return canonical(asdict(fit_job(self.config, wildcards.method, targets, group)))

    def ensemble_inputs(self, wildcards) -> dict[str, list[str]]:
        """What an ensemble reads: its members' predictions, backtests, draws and error models."""
        group = getattr(wildcards, "group", None)
        mine = self.members(wildcards.method)
        return {t: [self.tables(m, group)[t] for m in mine] for t in ("predictions", "backtest", "draws", "calibration")}

    def ensemble_job(self, wildcards) -> dict:
        return canonical(asdict(ensemble_job(self.config, wildcards.method, getattr(wildcards, "group", None))))

    @property
    def summary_inputs(self) -> dict[str, list[str]]:
        """What rule tables gathers: every method's tables (of every group), and the ladder's metrics for the
        predictability."""
        inputs = {t: [self.tables(m, g)[t] for m in self.methods for g in self.runs.parts
                      if t in self.tables(m, g)] for t in ("predictions", "fits", "backtest", "calibration", "weights")}
        return inputs | {"ladder": self.imports.metrics_of(self.runs.ladder_runs)}

    @property
    def summary_outputs(self) -> dict[str, str]:
        return {t: self.layout.table(t) for t in TABLES} | {t: self.layout.analysis(t) for t in ANALYSIS_TABLES}

    def summary_job(self, wildcards=None) -> dict:
        """The summary tables depend on the tasks, the methods, the options the predictability measures read, and
        the flags' thresholds; with groups, on the ladder runs of each."""
        groups = {g: self.runs.ladder_of(g) for g in self.runs.groups} if self.runs.groups else None
        return canonical(asdict(summary_job(self.config, groups)))

    def figure_inputs(self, wildcards) -> dict[str, str]:
        """A method's figures read its tables and the predictions with their flags."""
        return self.tables(wildcards.method, getattr(wildcards, "group", None)) | {
            "summary": self.layout.table("predictions")}

    def figure_job(self, wildcards=None) -> dict:
        return canonical({"figures": self.config["figures"], "group": getattr(wildcards, "group", None)})

    # ---- analyses ------------------------------------------------------------------------------------
    @property
    def cve_figures(self) -> dict[str, str]:
        return {o: self.layout.analysis_figure(f"compute_vs_error_{o}") for o in
                self.config["analyses"]["compute_vs_error"]["orders"]}

    @property
    def cve_metrics(self) -> str:
        """The metrics of the compute-vs-error analysis's target."""
        target = self.runs.targets.get(self.cve_target)
        return self.imports.metrics(target.run_in(None) if target else str(self.cve_target))

    def cve_job(self, wildcards=None) -> dict:
        cve = self.config["analyses"]["compute_vs_error"]
        target = self.runs.targets[self.cve_target] if self.cve_target else None
        return canonical({"method_name": cve["method"], "method": self.methods.get(cve["method"]),
                          "target": self.cve_target, "spec": target.spec() if target else None,
                          "orders": cve["orders"], "tasks": self.tasks, "intervals": self.config["intervals"],
                          "evidence": evidence_options(self.config),
                          "options": self.options | {"multistart": cve["multistart"]},
                          "figures": self.config["figures"]})

    def variance_job(self, wildcards=None) -> dict:
        return canonical({"settings": self.variance, "figures": self.config["figures"]})

    @property
    def group_comparison(self) -> dict[str, str]:
        """The group comparison's outputs (rule group_comparison): the groups ranked (table), the answer per target and
        task (ranking: analyses/group_ranking.csv) and the figure."""
        return {"table": self.layout.analysis("group_comparison"), "ranking": self.layout.analysis("group_ranking"),
                "figure": self.layout.analysis_figure("group_comparison")}

    @property
    def group_comparison_inputs(self) -> dict[str, str | list[str]]:
        """What the group comparison reads: the predictions with their flags, the backtests, and every method's draws
        of every group (compared draw by draw)."""
        return {"predictions": self.layout.table("predictions"), "backtest": self.layout.analysis("backtest"),
                "draws": [self.tables(m, g)["draws"] for m in self.methods for g in self.runs.parts
                          if "draws" in self.tables(m, g)]}

    def group_comparison_job(self, wildcards=None) -> dict:
        """The comparison's figure shows the headline method's ranking."""
        return canonical({"method": self.headline_method, "figures": self.config["figures"]})

    # ---- the planner ---------------------------------------------------------------------------------------
    @property
    def plan_target(self) -> str | None:
        """The target the config asks a ladder to be planned for (planner.target; None: no plan)."""
        return self.config["planner"]["target"]

    @property
    def plan_outputs(self) -> dict[str, str]:
        """The plan's tables, figure and recommended ladder config (taskladder.planner.plan.write_plan's keys)."""
        layout = self.layout
        return {"plan": layout.analysis("plan"), "tasks": layout.analysis("plan_tasks"),
                "figure": layout.analysis_figure("plan"), "config": layout.path("analyses", "plan_ladder.yaml")}

    def plan_job(self, wildcards=None) -> dict:
        """The plan reads the config's PLAN_KEYS (the written config holds its training setup) and the target."""
        from taskladder.planner.plan import PLAN_KEYS

        target = self.runs.targets[self.plan_target]
        return canonical({"config": {k: self.config[k] for k in PLAN_KEYS if k in self.config},
                          "target": self.plan_target, "spec": {"n": target.n, "d": target.d, "flops": target.flops}})

    @property
    def analyses(self) -> dict[str, list[str]]:
        """The outputs of every analysis this experiment runs. A new analysis: its rule in rules/analyses.smk and
        an entry here."""
        layout = self.layout
        out = {}
        if self.variance is not None:
            out["variance"] = [layout.analysis("variance"), layout.analysis_figure("variance")]
        if self.runs.groups:
            out["group_comparison"] = list(self.group_comparison.values())
        if self.config["intervals"]["draws"]:
            out["backtest"] = [layout.analysis_figure("backtest")]
        if self.cve_target:
            out["compute_vs_error"] = [layout.analysis("compute_vs_error"), *self.cve_figures.values()]
        if self.plan_target:
            out["plan_ladder"] = list(self.plan_outputs.values())
        return out

    # ---- the report ----------------------------------------------------------------------------------
    @property
    def headline_method(self) -> str:
        return next((m for m in HEADLINE_METHODS if m in self.methods), next(iter(self.methods)))

    @property
    def headline_figures(self) -> list[str]:
        """The group comparison where there are groups; else the headline method's figures: an ensemble's members
        and the chained panels of its first member, a fitted method's chained and step-1 panels."""
        if self.runs.groups:
            return [self.group_comparison["figure"]]
        method = self.headline_method
        if self.is_ensemble(method):
            return [self.layout.figure(method, "members"), self.layout.figure(self.members(method)[0], "chained")]
        return [self.layout.figure(method, "chained"), self.layout.figure(method, "step1")]

    @property
    def report_inputs(self) -> dict[str, str | list[str]]:
        """What the report's first page reads: the predictions, the headline figures, and with groups the ranking."""
        ranking = {"ranking": self.group_comparison["ranking"]} if self.runs.groups else {}
        return {"predictions": self.layout.table("predictions"), "figures": self.headline_figures} | ranking

    def report_job(self, wildcards=None) -> dict:
        return canonical({"method": self.headline_method, "experiment": self.config["experiment"]})
