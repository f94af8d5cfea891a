from pathlib import Path

import pytest

from taskladder.base.config import defaults

ROOT = Path(__file__).resolve().parent.parent
PAPER_LOGS = ROOT.parent / "shared" / "olmo-ladder"


@pytest.fixture
def paper_logs() -> Path:
    """The paper's released ladder logs; tests that need them skip (saying why) when absent."""
    if not (PAPER_LOGS / "1B-10xC.csv").exists():
        pytest.skip(f"the paper's ladder logs are not at {PAPER_LOGS} (copy OLMo-ladder's CSVs there to run this)")
    return PAPER_LOGS


def intervals(**overrides) -> dict:
    """The `intervals` options a config that sets none gets (the schema's defaults), with `overrides`."""
    return {**defaults("intervals"), **overrides}
