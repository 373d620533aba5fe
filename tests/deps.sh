#!/bin/sh
# deps.sh: install the Debian packages countersign needs to build, test and
# demo, when any is missing. Idempotent; uses sudo when not root.
set -eu

PKGS="build-essential pkg-config libnng-dev libjansson-dev libsqlite3-dev
libncurses-dev libcurl4-openssl-dev check libsubunit-dev libjwt-dev
libssl-dev sqlite3 tmux jq"
[ "${1:-}" = "--dev" ] && PKGS="$PKGS valgrind clang"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps: need root or sudo to install:$missing" >&2
		exit 1
	}
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
