"""Names that become parts of file paths: the experiment, runs (ladder sizes and targets, `checkpoints` runs, imported
run logs), groups, targets, imported entries, methods and task names.

Every such name matches SAFE_NAME: it starts with a letter or digit, holds only letters, digits and
`. _ + = -`, and is at most MAX_LENGTH characters long; and it does not end in a piece repeated 20 times or more
(`aaaa...`, `abab...`), which Snakemake takes for a wildcard that cycles (PeriodicWildcardError). So a name can never
climb out of the results folder (no `/`, no leading `.`), never needs quoting in a shell or a Snakemake wildcard, and
never makes a path too long for a file system.
"""

from __future__ import annotations

import re

from taskladder.base.config import ConfigError

MAX_LENGTH = 100
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")
REPEATED_END = re.compile(r"(.+?)\1{19,}$")  # Snakemake's test of a periodic wildcard value (20 repeats)
RULE = (f"letters, digits and . _ + = - only, starting with a letter or digit, at most {MAX_LENGTH} characters, not "
        "ending in a piece repeated 20 times or more")


def is_safe(name) -> bool:
    return (isinstance(name, str) and len(name) <= MAX_LENGTH and SAFE_NAME.fullmatch(name) is not None
            and REPEATED_END.search(name) is None)


def check_name(kind: str, name, where: str, error=ConfigError) -> str:
    """`name` if it is a safe name, else `error` naming where it was found and what is allowed."""
    if not is_safe(name):
        shown = f"{name[:60]!r}... ({len(name)} characters)" if isinstance(name, str) and len(name) > 60 else repr(name)
        raise error(f"{where}: {kind} name {shown} cannot name a file; expected {RULE}")
    return name
