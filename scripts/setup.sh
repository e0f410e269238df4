#!/usr/bin/env bash
# Sets up bench on a fresh Debian/Ubuntu machine: the PostgreSQL, Redis, PgBouncer and RabbitMQ binaries
# (bench runs its own throwaway instances of them) and a C compiler (for its delay proxy), PgBouncer 1.24
# built once into bench's cache (scripts/build-pgbouncer.sh, about 20 s), then a virtualenv in .venv with
# bench and its test tools.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have_postgres() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-contrib)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v cc >/dev/null 2>&1 || missing+=(gcc)  # builds bench's delay proxy (rtt_ms) on first use
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
scripts/apt-install.sh setup "${missing[@]}"

# Debian 12 ships PgBouncer 1.18; teams run 1.21+ (prepared statements in transaction pooling).
scripts/build-pgbouncer.sh >/dev/null

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bench needs Python 3.11 or newer")'
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# The versions the tests passed with (constraints.txt; scripts/refresh-constraints.sh writes it anew).
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
echo "setup: ready (.venv/bin/bench)" >&2
