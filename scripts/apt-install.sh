#!/usr/bin/env bash
# Installs the Debian packages named (those missing, as the caller found them) with apt-get, as root
# or through sudo. Usage: scripts/apt-install.sh WHO PACKAGE...  (WHO prefixes the one line it prints)
set -euo pipefail
who=$1
shift
(($#)) || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "$who: installing $* with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
