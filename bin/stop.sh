#!/usr/bin/env bash
# Stops the canal-server started by bin/startup.sh and waits for it to exit cleanly.
# Uses $CANAL_PID_FILE (default bin/canal.pid); waits $CANAL_STOP_TIMEOUT seconds (default 60)
# before killing it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pid_file=${CANAL_PID_FILE:-$root/bin/canal.pid}
timeout=${CANAL_STOP_TIMEOUT:-60}

if [ ! -f "$pid_file" ]; then
  echo "stop: no pid file $pid_file; canal-server is not running (or was not started by bin/startup.sh)" >&2
  exit 0
fi
pid=$(cat "$pid_file")
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "stop: pid ${pid:-?} is not running; removing $pid_file" >&2
  rm -f "$pid_file"
  exit 0
fi
kill -TERM "$pid"
for ((i = 0; i < timeout * 10; i++)); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "stop: canal-server (pid $pid) did not exit within $timeout s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  exit 1
fi
rm -f "$pid_file"
echo "stop: canal-server (pid $pid) stopped"
