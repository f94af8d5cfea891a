"""What people look at: the figures of every method (`figures`) and analysis (`analysis_figures`), in one style
(`style`), the figure names the plan uses (`registry`), the jobs that draw them (`jobs`) and the report's first page
(`page`).

Imports: base, fit, analyses.
"""
