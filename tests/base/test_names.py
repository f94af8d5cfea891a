"""Names that become parts of paths: safe, or refused naming where they were found and what is allowed."""

import pytest

from taskladder.base.config import ConfigError
from taskladder.base.metrics_table import InputError
from taskladder.base.names import MAX_LENGTH, check_name, is_safe

LONGEST = "run-" + "0123456789" * 9 + "abcdef"  # MAX_LENGTH characters
PERIODIC = "run-" + "ab" * 20  # Snakemake takes a name ending in 20 repeats for a cycling wildcard


@pytest.mark.parametrize("name", ["190M-1xC", "run.1", "a_b+c=d", "7B", LONGEST])
def test_safe_names(name):
    assert len(LONGEST) == MAX_LENGTH
    assert is_safe(name) and check_name("run", name, "imported") == name


@pytest.mark.parametrize("name", ["", "../up", ".hidden", "-flag", "a/b", "a b", "ü", "x" * (MAX_LENGTH + 1), PERIODIC, 7,
                                  None])
def test_names_that_cannot_name_a_file(name):
    assert not is_safe(name)
    with pytest.raises(ConfigError, match=r"targets.x: target name .* cannot name a file; expected letters, digits"):
        check_name("target", name, "targets.x")


def test_a_long_name_is_shown_cut_and_the_error_type_is_the_callers():
    with pytest.raises(InputError, match=r"'xxxx.*\.\.\. \(101 characters\)"):
        check_name("group", "x" * 101, "file.csv: column group", InputError)
