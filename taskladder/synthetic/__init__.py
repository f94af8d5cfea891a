"""Synthetic ladders with known truth: the laws they are drawn from (`truth`), ladders of run logs (`ladders`) and
the same ladder in every shape the importers read (`shapes`); the bundled examples and many tests use them.

Imports: base, tasks, imports, fit.
"""
