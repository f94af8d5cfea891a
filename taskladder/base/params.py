"""Job params in one canonical form: a config that means the same thing gives the same params.

Snakemake compares a job's params by their `repr`, so a mapping written in another key order, or a
number written as 5.0 where 5 was, would look like a change and rerun the job (and every job after
it). `canonical` sorts mapping keys, turns tuples into lists, numpy scalars into Python numbers and
whole floats into ints, recursively.
"""

from __future__ import annotations

import math

import numpy as np


def canonical(value):
    """`value` with sorted mapping keys, lists for tuples and plain numbers (a whole float is an int)."""
    if isinstance(value, dict):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    return value
