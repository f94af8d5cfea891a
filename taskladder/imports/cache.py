"""What reading and checking an imported table found, kept so that an unchanged table is read once.

The plan reads every imported table when the workflow starts (dry runs, and each job process of a cluster run,
included) and `taskladder check` does the same; a table of a million rows takes seconds to read and check. Its
result (a small JSON summary: runs, groups, digests of their rows) is kept in `.snakemake/taskladder-cache/` of the
working directory (`TASKLADDER_CACHE`: another folder, or `off`) and used again while nothing it depends on changed:

- a *stat* record, keyed by the file's path, size, mtime, ctime and inode, the entry's checked spec and the code's
  version (the importer's source and the versions of pandas, numpy and pyarrow), names the file's content digest
  (sha256 of its bytes); an unchanged file costs one stat and two small reads;
- a *result* record, keyed by that content digest, the spec and the code's version, holds the summary: a file that
  was touched, copied or rewritten with the same bytes is hashed (about 1 s for 200 MB), not read again.

A table whose stat changed while it was read is not recorded, nor an lm-eval output directory (a folder of small
files, read each time). Failed checks are not recorded (the next start reads
the table again and says what is wrong). Records are written atomically (temporary file and rename), so that
concurrent starts never read half a record; the folder keeps the newest `KEEP` records of each kind.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from taskladder.base.files import write_text

KEEP = 64


def folder() -> Path | None:
    """Where records are kept (None: no cache)."""
    where = os.environ.get("TASKLADDER_CACHE", "")
    if where.lower() in ("off", "0", "false", "no"):
        return None
    return Path(where) if where else Path(".snakemake") / "taskladder-cache"


@cache
def code_version() -> str:
    """The importer's source (this package and the metrics contract) and the libraries that read and hash tables."""
    import numpy
    import pandas
    import pyarrow

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{numpy.__version__} {pandas.__version__} {pyarrow.__version__}".encode())
    for source in sorted([*here.glob("*.py"), here.parent / "base" / "metrics_table.py", here.parent / "base" /
                          "names.py"]):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


def _key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _stat(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _load(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):  # absent, or unreadable: as if absent
        return None


def _save(record: Path, value: dict) -> None:
    try:
        write_text(json.dumps(value), record)
        kind = record.name.split("-", 1)[0]
        records = sorted(record.parent.glob(f"{kind}-*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in records[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only working directory: no cache, nothing else changes
        pass


def cached(path: Path, spec: dict, compute: Callable[[], dict]) -> dict:
    """`compute()` (a JSON-able summary of the table at `path` read by `spec`), or what it gave last time for the
    same file content, spec and code."""
    where = folder()
    if where is None or not path.is_file():
        return compute()
    path = path.resolve()
    before = _stat(path)
    stat_record = where / f"stat-{_key(file=str(path), stat=before, spec=spec, code=code_version())}.json"
    content = (_load(stat_record) or {}).get("content")
    if content is None:
        content = content_digest(path)
    result_record = where / f"result-{_key(content=content, spec=spec, code=code_version())}.json"
    result = _load(result_record)
    if result is None:
        result = compute()
        if _stat(path) != before:  # changed while read: what was read may not be `content`
            return result
        _save(result_record, result)
    if not stat_record.exists():
        _save(stat_record, {"content": content})
    return result
