#!/bin/sh
# deps.sh: install the Debian packages countersign needs to build, test and
# demo, when any is missing (--dev adds valgrind and clang, --screenshots
# what `make screenshots` renders with). Idempotent; uses sudo when not root.
set -eu

PKGS="build-essential pkg-config libnng-dev libjansson-dev libyajl-dev libsqlite3-dev
libncurses-dev libcurl4-openssl-dev check libsubunit-dev libjwt-dev
libssl-dev sqlite3 tmux jq curl python3"
for arg in "$@"; do
	case $arg in
	--dev) PKGS="$PKGS valgrind clang" ;;
	--screenshots) PKGS="$PKGS aha chromium fonts-dejavu-core" ;;
	esac
done

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# The MCP gateway's end-to-end test (t_mcp.sh) runs the MCP SDK on Node.js;
# any Node.js with npm will do, so only a missing command pulls Debian's.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
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
