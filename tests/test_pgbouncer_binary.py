"""Which PgBouncer the PgBouncer arms run behind: bench's build of 1.24 (scripts/setup.sh makes it),
the system's, or the one the profile names; its version as `--version` states it."""

import os

import pytest

from bench.errors import BenchError
from bench.services.pgbouncer import (
    BUILT_VERSION,
    built_binary,
    pgbouncer_binary,
    pgbouncer_version,
    tracks_prepared_statements,
)

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
    # By name, wherever they lie: what a profile that runs both writes.
    assert pgbouncer_binary("system") == SYSTEM and pgbouncer_binary("built") == str(built_binary())


def test_the_build_is_named_missing_in_one_line(child_processes, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(BenchError, match="not built; run scripts/setup.sh"):
        pgbouncer_binary("built")


@pytest.mark.parametrize(
    "version, tracks", [("1.18.0", False), ("1.20.1", False), ("1.21.0", True), ("1.24.1", True), ("2.0", True)]
)
def test_max_prepared_statements_is_written_from_1_21_on(version, tracks):
    assert tracks_prepared_statements(version) is tracks


def test_a_file_that_is_not_pgbouncer_has_no_version(child_processes):
    with pytest.raises(BenchError, match="not PgBouncer"):
        pgbouncer_version("/bin/true")
