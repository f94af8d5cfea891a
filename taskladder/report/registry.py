"""The figures each kind of job draws, by name: the plan names their files from here and the figure modules draw
exactly these (one registry, shared; it imports no plotting library)."""

METHOD_FIGURES = ("step1", "step2", "chained")  # per fitted method (taskladder.report.figures)
ENSEMBLE_FIGURES = ("members",)  # per ensemble (taskladder.report.figures.members_figure)
