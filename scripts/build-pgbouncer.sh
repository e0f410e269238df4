#!/usr/bin/env bash
# Builds PgBouncer 1.24.1 once, from Debian 13's source package (with Debian's patches), into bench's
# cache, and prints the binary's path. Debian 12 ships PgBouncer 1.18, which predates prepared
# statements in transaction pooling (1.21, `max_prepared_statements`): what asyncpg needs and what
# teams run today. bench finds the build there (bench/services/pgbouncer.py); `pgbouncer_binary`
# names any other.
#
# The system's apt sources are left as they are: Debian 13's source index is read into a temporary
# folder. The build needs libevent, c-ares and OpenSSL headers, installed with apt-get if missing.
set -euo pipefail

VERSION=1.24.1
SUITE=trixie
cache="${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bench}"
target="$cache/pgbouncer-$VERSION"
if [ -x "$target/bin/pgbouncer" ]; then
  echo "$target/bin/pgbouncer"
  exit 0
fi

missing=()
for package in libevent-dev libc-ares-dev libssl-dev pkg-config make gcc dpkg-dev; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
"$(dirname "$0")/apt-install.sh" build-pgbouncer "${missing[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian $SUITE main" > "$work/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root"
)
echo "build-pgbouncer: PgBouncer $VERSION from Debian $SUITE's source package into $target" >&2
apt-get "${apt_options[@]}" update -qq
(cd "$work" && apt-get "${apt_options[@]}" source -qq "pgbouncer" >/dev/null 2>&1)
source_dir="$work/pgbouncer-$VERSION"
[ -d "$source_dir" ] || {
  echo "build-pgbouncer: Debian $SUITE no longer has pgbouncer $VERSION: $(ls "$work" | tr '\n' ' ')" >&2
  exit 1
}
cd "$source_dir"
./configure -q --prefix="$target" --with-cares --with-openssl --without-pam --without-systemd >/dev/null
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
echo "build-pgbouncer: $("$target/bin/pgbouncer" --version | head -1), built in ${SECONDS} s" >&2
echo "$target/bin/pgbouncer"
