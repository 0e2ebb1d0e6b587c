#!/usr/bin/env bash
# Reproducible binlog workload for CDC benchmarks.
#
# Starts a PRIVATE MariaDB instance (datadir under $BASE, port 3310, socket in $BASE)
# and fills its binlog with a deterministic row-change workload.
#
# usage: tests/bench/workload.sh [all|start|gen|stats|stop|env]      (default: all = start gen stats)
#   N=1000000   total row changes in the binlog (50% INSERT, 30% UPDATE, 20% DELETE)
#   BATCH=1000  rows per transaction (BATCH=1 gives one-row OLTP-style transactions)
#   BASE=/tmp/bench-mysql  PORT=3310  RESULTS=$BASE/results
#
# Result: $BASE/workload.json (also copied to ${RESULTS:-$BASE/results}/workload-N<N>-B<BATCH>.json)
# Clients connect with: -h127.0.0.1 -P3310 -ubench -pbench  (or -S $BASE/mysql.sock -uroot)
set -euo pipefail

N=${N:-1000000}
BATCH=${BATCH:-1000}
BASE=${BASE:-/tmp/bench-mysql}
PORT=${PORT:-3310}
SOCK=$BASE/mysql.sock
DATA=$BASE/data
BINLOG_DIR=$BASE/binlog
HERE=$(cd "$(dirname "$0")" && pwd)

INSERTS=$(( N * 5 / 10 ))
UPDATES=$(( N * 3 / 10 ))
DELETES=$(( N - INSERTS - UPDATES ))

sql() { mariadb --no-defaults -S "$SOCK" -uroot "$@"; }

is_up() { [ -S "$SOCK" ] && mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1; }

start() {
  if is_up; then echo "bench mariadbd already up on $SOCK (pid $(cat $BASE/mariadbd.pid))"; return; fi
  mkdir -p "$BASE" "$BINLOG_DIR"
  if [ ! -d "$DATA/mysql" ]; then
    echo "initialising $DATA"
    mariadb-install-db --no-defaults --user=root --datadir="$DATA" \
      --auth-root-authentication-method=socket --skip-test-db >"$BASE/install.log" 2>&1
  fi
  # setsid: own session, so nothing else signals it; stopped only via `workload.sh stop`
  setsid mariadbd --no-defaults --user=root \
    --datadir="$DATA" --socket="$SOCK" --port=$PORT --bind-address=127.0.0.1 \
    --pid-file="$BASE/mariadbd.pid" --log-error="$BASE/error.log" \
    --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --log-bin="$BINLOG_DIR/mysql-bin" --server-id=1 --binlog-format=ROW \
    --binlog-row-image=FULL --binlog-row-metadata=FULL --max-binlog-size=1073741824 \
    --binlog-annotate-row-events=OFF \
    --innodb-buffer-pool-size=2G --innodb-log-file-size=1G \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
    --max-allowed-packet=256M --max-connections=100 \
    </dev/null >>"$BASE/mariadbd.out" 2>&1 &
  for _ in $(seq 1 120); do is_up && break; sleep 0.5; done
  is_up || { echo "mariadbd failed to start; see $BASE/error.log" >&2; tail -20 "$BASE/error.log" >&2; exit 1; }
  echo "bench mariadbd up: pid $(cat $BASE/mariadbd.pid), port $PORT, socket $SOCK"
  sql -e "CREATE USER IF NOT EXISTS 'bench'@'%' IDENTIFIED BY 'bench';
          GRANT ALL PRIVILEGES ON *.* TO 'bench'@'%';"
}

stop() {
  if is_up; then
    mariadb-admin --no-defaults -S "$SOCK" -uroot shutdown
    echo "bench mariadbd stopped"
  else
    echo "bench mariadbd not running"
  fi
}

gen() {
  is_up || start
  echo "generating workload: N=$N (ins=$INSERTS upd=$UPDATES del=$DELETES) BATCH=$BATCH"
  local t0 t1
  t0=$(date +%s.%N)
  sql <<SQL
SET SESSION sql_log_bin = 0;
DROP DATABASE IF EXISTS bench;
DROP DATABASE IF EXISTS benchaux;
CREATE DATABASE benchaux;
-- helper objects are never binlogged
CREATE TABLE benchaux.nums (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO benchaux.nums
  WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < $BATCH - 1) SELECT n FROM r;
DELIMITER //
CREATE PROCEDURE benchaux.gen_insert(IN p_first BIGINT, IN p_count BIGINT, IN p_batch INT)
BEGIN
  DECLARE b BIGINT DEFAULT p_first;
  DECLARE e BIGINT DEFAULT p_first + p_count;
  WHILE b < e DO
    START TRANSACTION;
    INSERT INTO bench.t (id, k, qty, name, price, ratio, created, updated_at, d, status, flag, note, attrs, payload)
    SELECT id,
           (id * 2654435761) % 2147483647,
           id % 1000,
           CONCAT('customer-', id, '-', REPEAT('x', id % 23)),
           (id % 1000000) / 100 + 0.99,
           IF(id % 10 = 0, NULL, id / 7),
           TIMESTAMP'2024-01-01 00:00:00' + INTERVAL id SECOND + INTERVAL (id * 7919) % 1000000 MICROSECOND,
           IF(id % 7 = 0, NULL, TIMESTAMP'2024-03-01 00:00:00' + INTERVAL id SECOND + INTERVAL (id % 1000) * 1000 MICROSECOND),
           DATE'2020-01-01' + INTERVAL (id % 3650) DAY,
           ELT(1 + id % 4, 'new', 'paid', 'shipped', 'cancelled'),
           id % 2,
           REPEAT(MD5(id), 1 + id % 4),
           JSON_OBJECT('id', id, 'tag', CONCAT('t', id % 17), 'v', JSON_ARRAY(id % 3, id % 5, id % 7)),
           CONCAT(UNHEX(MD5(id)), UNHEX(SHA1(id)))
    FROM (SELECT b + n AS id FROM benchaux.nums WHERE n < LEAST(p_batch, e - b) ORDER BY n) s;
    COMMIT;
    SET b = b + p_batch;
  END WHILE;
END//
CREATE PROCEDURE benchaux.gen_update(IN p_first BIGINT, IN p_count BIGINT, IN p_batch INT)
BEGIN
  DECLARE b BIGINT DEFAULT p_first;
  DECLARE e BIGINT DEFAULT p_first + p_count;
  WHILE b < e DO
    START TRANSACTION;
    UPDATE bench.t
       SET qty = qty + 1, price = price + 1.25, ratio = ratio * 1.5, status = 'paid',
           note = CONCAT(note, ' upd'), attrs = JSON_SET(attrs, '$.upd', 1),
           updated_at = TIMESTAMP'2024-06-01 00:00:00' + INTERVAL id SECOND
     WHERE id >= b AND id < LEAST(b + p_batch, e) ORDER BY id;
    COMMIT;
    SET b = b + p_batch;
  END WHILE;
END//
CREATE PROCEDURE benchaux.gen_delete(IN p_first BIGINT, IN p_count BIGINT, IN p_batch INT)
BEGIN
  DECLARE b BIGINT DEFAULT p_first;
  DECLARE e BIGINT DEFAULT p_first + p_count;
  WHILE b < e DO
    START TRANSACTION;
    DELETE FROM bench.t WHERE id >= b AND id < LEAST(b + p_batch, e) ORDER BY id;
    COMMIT;
    SET b = b + p_batch;
  END WHILE;
END//
DELIMITER ;
RESET MASTER;
SET SESSION sql_log_bin = 1;
SET SESSION time_zone = '+00:00';
CREATE DATABASE bench;
CREATE TABLE bench.t (
  id         BIGINT NOT NULL PRIMARY KEY,
  k          INT NOT NULL,
  qty        SMALLINT NOT NULL,
  name       VARCHAR(64) NOT NULL,
  price      DECIMAL(12,2) NOT NULL,
  ratio      DOUBLE NULL,
  created    DATETIME(6) NOT NULL,
  updated_at TIMESTAMP(3) NULL DEFAULT NULL,
  d          DATE NULL,
  status     ENUM('new','paid','shipped','cancelled') NOT NULL,
  flag       TINYINT NOT NULL,
  note       TEXT NULL,
  attrs      JSON NULL,
  payload    BLOB NULL,
  KEY k_idx (k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CALL benchaux.gen_insert(1, $INSERTS, $BATCH);
CALL benchaux.gen_update(1, $UPDATES, $BATCH);
CALL benchaux.gen_delete($INSERTS - $DELETES + 1, $DELETES, $BATCH);
-- close the workload binlog file: later activity (latency tests, restarts) goes to new files
FLUSH BINARY LOGS;
SQL
  t1=$(date +%s.%N)
  echo "$t0 $t1" > "$BASE/gen.time"
  echo "N=$N BATCH=$BATCH" > "$BASE/workload.params"
  # every file except the new active one holds the workload
  sql -N -e "SHOW BINARY LOGS" | awk '{print $1}' | sed '$d' | paste -sd, - > "$BASE/workload.files"
  stats
}

stats() {
  is_up || start
  local files bytes endfile endpos ver gen_s
  [ -s "$BASE/workload.files" ] || { echo "no workload recorded; run: $0 gen" >&2; exit 1; }
  # the parameters the recorded workload was generated with
  eval "$(cat "$BASE/workload.params")"
  INSERTS=$(( N * 5 / 10 )); UPDATES=$(( N * 3 / 10 )); DELETES=$(( N - INSERTS - UPDATES ))
  files=$(cat "$BASE/workload.files")
  bytes=0
  for f in ${files//,/ }; do bytes=$(( bytes + $(stat -c %s "$BINLOG_DIR/$f") )); done
  endfile=${files##*,}
  endpos=$(stat -c %s "$BINLOG_DIR/$endfile")
  ver=$(sql -N -e "SELECT VERSION()")
  gen_s=$(awk '{printf "%.1f", $2-$1}' "$BASE/gen.time" 2>/dev/null || echo null)
  # event counts by type, straight from the server
  local evjson total
  : > "$BASE/events.tsv"
  for f in ${files//,/ }; do sql -N -e "SHOW BINLOG EVENTS IN '$f'" | awk -F'\t' '{print $3}' >> "$BASE/events.tsv"; done
  total=$(wc -l < "$BASE/events.tsv")
  evjson=$(sort "$BASE/events.tsv" | uniq -c | awk 'BEGIN{printf "{"} {printf "%s\"%s\": %d", (NR>1?", ":""), $2, $1} END{printf "}"}')
  # independent row-count check: decode the local binlog files
  local rows_ins rows_upd rows_del
  read -r rows_ins rows_upd rows_del < <(
    (cd "$BINLOG_DIR" && mariadb-binlog --no-defaults --base64-output=decode-rows -v ${files//,/ }) |
    awk '/^### INSERT INTO/{i++} /^### UPDATE/{u++} /^### DELETE FROM/{d++} END{print i+0, u+0, d+0}')
  local txns
  txns=$(grep -c '^Xid$' "$BASE/events.tsv" || true)
  cat > "$BASE/workload.json" <<JSON
{
  "server": "$ver",
  "n_target": $N,
  "batch_rows_per_txn": $BATCH,
  "planned": {"insert": $INSERTS, "update": $UPDATES, "delete": $DELETES},
  "binlog_rows": {"insert": $rows_ins, "update": $rows_upd, "delete": $rows_del, "total": $((rows_ins + rows_upd + rows_del))},
  "transactions_xid": $txns,
  "binlog_files": "$files",
  "binlog_bytes": $bytes,
  "first_file": "${files%%,*}",
  "end_file": "$endfile",
  "end_pos": $endpos,
  "events_total": $total,
  "events_by_type": $evjson,
  "gen_seconds": $gen_s,
  "options": "log-bin binlog_format=ROW server_id=1 binlog_row_image=FULL binlog_row_metadata=FULL binlog_annotate_row_events=OFF binlog_checksum=CRC32(default) max_binlog_size=1G"
}
JSON
  mkdir -p "${RESULTS:-$BASE/results}"
  cp "$BASE/workload.json" "${RESULTS:-$BASE/results}/workload-N${N}-B${BATCH}.json"
  cat "$BASE/workload.json"
}

case "${1:-all}" in
  all)   start; gen ;;
  start) start ;;
  gen)   gen ;;
  stats) stats ;;
  stop)  stop ;;
  env)   echo "BASE=$BASE SOCK=$SOCK PORT=$PORT" ;;
  *) echo "usage: $0 [all|start|gen|stats|stop|env]" >&2; exit 2 ;;
esac
