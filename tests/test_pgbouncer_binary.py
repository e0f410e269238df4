"""Which PgBouncer the PgBouncer arms run behind: bench's build of 1.24 (scripts/setup.sh makes it),
the system's, or the one the profile names; its version as `--version` states it."""

import os

import pytest

from bench.errors import BenchError
from bench.services.pgbouncer import BUILT_VERSION, built_binary, pgbouncer_binary, pgbouncer_version

SYSTEM = "/usr/sbin/pgbouncer"


def test_setup_built_pgbouncer_1_24_and_it_is_the_default(child_processes):
    # scripts/setup.sh (so .ci/run) builds it from Debian 13's source package: the tests run against it.
    assert os.access(built_binary(), os.X_OK), f"no build at {built_binary()}: run scripts/build-pgbouncer.sh"
    assert pgbouncer_binary() == str(built_binary())
    assert pgbouncer_version(pgbouncer_binary()) == BUILT_VERSION == "1.24.1"


@pytest.mark.skipif(not os.access(SYSTEM, os.X_OK), reason="Debian's pgbouncer package is not installed")
def test_a_named_binary_wins_and_its_version_is_read(child_processes):
    assert pgbouncer_binary(SYSTEM) == SYSTEM
    assert pgbouncer_version(SYSTEM).startswith("1.18")  # Debian 12's


def test_a_file_that_is_not_pgbouncer_has_no_version(child_processes):
    with pytest.raises(BenchError, match="not PgBouncer"):
        pgbouncer_version("/bin/true")
