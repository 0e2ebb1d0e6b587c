#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: installs what is missing, builds, starts a throwaway
# MariaDB with binlog on, canal-server following it (bin/startup.sh), writes demo rows and shows
# them arriving through canal-tail as FlatMessage JSON lines. Everything lives in a temporary
# directory removed at the end.
#   bin/quickstart.sh            the demo: a few rows, then exit
#   bin/quickstart.sh --follow   keep writing a row every 2 s and tailing until Ctrl-C
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
follow=0
[ "${1:-}" = "--follow" ] && follow=1

"$root/bin/install-deps.sh"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
build=${CANAL_BUILD_DIR:-$root/build}
echo "quickstart: building canal-server and canal-tail in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${CANAL_JOBS:-2}" --target canal-server canal-tail >/dev/null

work=$(mktemp -d /tmp/canal-quickstart.XXXXXX)
db_pid=""
export CANAL_PID_FILE=$work/canal.pid CANAL_LOG_DIR=$work/logs CANAL_SERVER_BIN=$build/bin/canal-server
cleanup() {
  "$root/bin/stop.sh" >/dev/null 2>&1 || true
  if [ -n "$db_pid" ]; then
    kill "$db_pid" 2>/dev/null || true
    wait "$db_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "quickstart: no free port found" >&2
  exit 1
}

# 1. A throwaway MariaDB with the binlog in ROW format.
db_port=$(free_port)
as_root=()
[ "$(id -u)" -eq 0 ] && as_root=(--user=root)
mkdir -p "$work/tmp"
mariadb-install-db --no-defaults --datadir="$work/mariadb" --auth-root-authentication-method=normal \
  --skip-test-db --skip-name-resolve --tmpdir="$work/tmp" "${as_root[@]}" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; exit 1; }
mariadbd --no-defaults --datadir="$work/mariadb" --socket="$work/mysqld.sock" --port="$db_port" \
  --bind-address=127.0.0.1 --log-error="$work/mariadb.err" --server-id=1 --log-bin=mysql-bin \
  --binlog-format=ROW --skip-name-resolve --tmpdir="$work/tmp" --innodb-buffer-pool-size=32M \
  --performance-schema=OFF "${as_root[@]}" >/dev/null 2>&1 &
db_pid=$!
sql() { mariadb --no-defaults -uroot --socket="$work/mysqld.sock" -N -e "$1"; }
for _ in $(seq 1 300); do sql "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
sql "SELECT 1" >/dev/null || { cat "$work/mariadb.err" >&2; exit 1; }
sql "CREATE USER 'canal'@'127.0.0.1' IDENTIFIED BY 'canal';
     GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'canal'@'127.0.0.1';
     CREATE DATABASE shop;
     CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(32), total DECIMAL(10,2),
                               created DATETIME(3), note TEXT)"
echo "quickstart: MariaDB $(sql 'SELECT VERSION()' 2>/dev/null || true) on 127.0.0.1:$db_port" >&2

# 2. canal-server on it: the shipped configuration with the demo's addresses, on 127.0.0.1, and
#    a one-time password for the web console (canal.admin.passwd holds its SHA1(SHA1()) hex).
canal_port=$(free_port)
http_port=$(free_port)
console_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
console_hash=$(/usr/bin/python3 -c 'import hashlib, sys; print(hashlib.sha1(hashlib.sha1(sys.argv[1].encode()).digest()).hexdigest().upper())' "$console_password")
mkdir -p "$work/conf/example"
sed -e "s/^canal.port *=.*/canal.port = $canal_port/" -e "s/^canal.metrics.pull.port *=.*/canal.metrics.pull.port = $http_port/" \
  -e "s/^canal.ip *=.*/canal.ip = 127.0.0.1/" "$root/conf/canal.properties" >"$work/conf/canal.properties"
printf 'canal.admin.user = admin\ncanal.admin.passwd = %s\n' "$console_hash" >>"$work/conf/canal.properties"
sed -e "s/^canal.instance.master.address *=.*/canal.instance.master.address = 127.0.0.1:$db_port/" \
  "$root/conf/example/instance.properties" >"$work/conf/example/instance.properties"
"$root/bin/startup.sh" "$work/conf" >&2
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$canal_port") 2>/dev/null && break; sleep 0.1; done

# 3. Demo rows while canal-tail follows the destination.
writer() {
  sleep 1
  sql "INSERT INTO shop.orders VALUES (1, 'alice', 12.50, NOW(3), NULL), (2, 'bob', 7.00, NOW(3), 'gift')"
  sql "UPDATE shop.orders SET total = 15.00, note = 'corrected' WHERE id = 1"
  sql "ALTER TABLE shop.orders ADD COLUMN status ENUM('new','paid') DEFAULT 'new'"
  sql "INSERT INTO shop.orders (id, customer, total, created, status) VALUES (3, 'carol', 99.99, NOW(3), 'paid')"
  sql "DELETE FROM shop.orders WHERE id = 2"
  local id=4
  while [ "$follow" -eq 1 ]; do
    sleep 2
    sql "INSERT INTO shop.orders (id, customer, total, created) VALUES ($id, 'customer$id', $id.00, NOW(3))"
    id=$((id + 1))
  done
}
writer &
writer_pid=$!
echo "quickstart: web console http://127.0.0.1:$http_port/console/ (user admin, password $console_password)" >&2
echo "quickstart: canal-tail --address 127.0.0.1:$canal_port --destination example" >&2
if [ "$follow" -eq 1 ]; then
  "$build/bin/canal-tail" --address "127.0.0.1:$canal_port" --destination example
else
  # 2 + 1 + 1 (DDL) + 1 + 1 row changes.
  "$build/bin/canal-tail" --address "127.0.0.1:$canal_port" --destination example --max-rows 6 --idle-exit 20
fi
kill "$writer_pid" 2>/dev/null || true
wait "$writer_pid" 2>/dev/null || true
echo "quickstart: done; the server logs were under $CANAL_LOG_DIR (removed with $work)" >&2
