from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER_LOGS = ROOT.parent / "shared" / "olmo-ladder"


@pytest.fixture
def paper_logs() -> Path:
    """The paper's released ladder logs; tests that need them skip (saying why) when absent."""
    if not (PAPER_LOGS / "1B-10xC.csv").exists():
        pytest.skip(f"the paper's ladder logs are not at {PAPER_LOGS} (copy OLMo-ladder's CSVs there to run this)")
    return PAPER_LOGS
