#!/usr/bin/env bash
# Starts canal-server in the background, like Canal's bin/startup.sh.
#   bin/startup.sh [CONF_DIR]      CONF_DIR holds canal.properties and DESTINATION/instance.properties
#                                  (default: conf/ beside this script)
# The pid goes to $CANAL_PID_FILE (default bin/canal.pid). Logs go under $CANAL_LOG_DIR (default
# logs/) in Canal's layout: canal/canal.log for the server, DESTINATION/DESTINATION.log for each
# destination (both rotated at 512 MB, 10 kept), canal/canal_stdout.log for anything printed.
# Refuses to start while the pid file names a running server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
conf=${1:-$root/conf}
pid_file=${CANAL_PID_FILE:-$root/bin/canal.pid}
log_dir=${CANAL_LOG_DIR:-$root/logs}
server=${CANAL_SERVER_BIN:-$root/build/bin/canal-server}

if [ -f "$pid_file" ]; then
  pid=$(cat "$pid_file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "startup: canal-server is already running (pid $pid, $pid_file); run bin/stop.sh first" >&2
    exit 1
  fi
  echo "startup: removing stale pid file $pid_file (pid $pid is not running)" >&2
  rm -f "$pid_file"
fi
[ -x "$server" ] || { echo "startup: $server not found; build first (bin/test.sh or bin/quickstart.sh)" >&2; exit 1; }
[ -f "$conf/canal.properties" ] || { echo "startup: $conf/canal.properties not found" >&2; exit 1; }

# Validate before detaching, so a bad configuration is reported here and not only in the log.
check=$(mktemp)
if ! "$server" --conf "$conf" --check >/dev/null 2>"$check"; then
  cat "$check" >&2
  rm -f "$check"
  echo "startup: the configuration in $conf is not valid" >&2
  exit 1
fi
rm -f "$check"

mkdir -p "$log_dir/canal" "$(dirname "$pid_file")"
nohup "$server" --conf "$conf" --logs "$log_dir" >>"$log_dir/canal/canal_stdout.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"
sleep 0.5
if ! kill -0 "$pid" 2>/dev/null; then
  rm -f "$pid_file"
  echo "startup: canal-server exited at once; the end of $log_dir/canal/canal_stdout.log:" >&2
  tail -n 20 "$log_dir/canal/canal_stdout.log" >&2
  exit 1
fi
echo "startup: canal-server started (pid $pid), log $log_dir/canal/canal.log"
