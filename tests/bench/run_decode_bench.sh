#!/usr/bin/env bash
# Decode benchmark, side by side with mariadb-binlog on the same file in the same run.
#
#   tests/bench/run_decode_bench.sh [BINLOG]
#
# Without BINLOG, generates the default workload (tests/bench/workload.sh: 1,000,000 row
# changes, ~322 MB) into $BASE (default /tmp/bench-mysql) unless it is already there.
# Runs, each RUNS times (default 3), reporting the median by wall time:
#   canal decode+render              framing, CRC32, TABLE_MAP/rows decoding, Canal value text
#   canal decode+render+flatmessage  the above plus FlatMessage JSON (what canal-binlog prints)
#   mariadb-binlog -v                --base64-output=decode-rows -v to /dev/null
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${CANAL_BUILD_DIR:-$root/build}
runs=${RUNS:-3}
export BASE=${BASE:-/tmp/bench-mysql}

binlog=${1:-}
if [ -z "$binlog" ]; then
  binlog="$BASE/binlog/mysql-bin.000001"
  if [ ! -s "$binlog" ] || [ ! -s "$BASE/binlog/mysql-bin.000002" ]; then
    "$root/bin/install-deps.sh"
    bash "$root/tests/bench/workload.sh" all
  fi
fi
[ -s "$binlog" ] || { echo "run_decode_bench: no binlog at $binlog" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target canal_decode_bench >/dev/null

median() {  # command... ; prints the JSON line of the median-time run
  local lines=()
  for _ in $(seq "$runs"); do lines+=("$("$@")"); done
  printf '%s\n' "${lines[@]}" | python3 -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
runs.sort(key=lambda r: r["seconds"])
print(json.dumps(runs[len(runs) // 2]))'
}

peer() {  # mariadb-binlog -v on the file, measured with getrusage of the child
  python3 - "$binlog" <<'PY'
import json, os, resource, subprocess, sys, time
path = sys.argv[1]
start = time.monotonic()
with open(os.devnull, "wb") as out:
    subprocess.run(["mariadb-binlog", "--no-defaults", "--base64-output=decode-rows", "-v", path], stdout=out, check=True)
seconds = time.monotonic() - start
u = resource.getrusage(resource.RUSAGE_CHILDREN)
rows = int(os.environ.get("ROWS", "0"))
size = os.path.getsize(path)
print(json.dumps({"mode": "mariadb-binlog -v", "rows": rows, "bytes": size, "seconds": round(seconds, 3),
                  "rows_per_s": round(rows / seconds), "mb_per_s": round(size / seconds / 1e6, 1),
                  "cpu_s": round(u.ru_utime + u.ru_stime, 3), "peak_rss_kb": u.ru_maxrss}))
PY
}

echo "binlog: $binlog ($(stat -c %s "$binlog") bytes), median of $runs runs"
render=$(median "$build/bench/canal_decode_bench" "$binlog")
echo "$render"
flat=$(median "$build/bench/canal_decode_bench" --flat "$binlog")
echo "$flat"
ROWS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rows"])' "$render")
export ROWS
echo "$(median peer)"
