#!/usr/bin/env python3
"""Serving benchmark: canal-server delivering the benchmark binlog to SDK consumers, side by side
with mariadb-binlog reading the same binlog from the same MariaDB in the same run.

    tests/bench/run_serve_bench.py [--rounds N] [--json FILE] [--only default,onerow,...]

Workloads (tests/bench/workload.sh, each in its own MariaDB, generated when missing):
  default  1,000,000 row changes in 1,000-row transactions (BASE /tmp/bench-mysql, port 3310)
  onerow   200,000 one-row transactions (BASE /tmp/bench-mysql-1row, port 3311)
  wide     200,000 rows of a 100-column table in 1,000-row transactions, written by this script
           to its own binlog file on the default instance

Runs, interleaved round by round (median by wall time reported):
  mariadb-binlog --raw  --read-from-remote-server --raw to /dev/shm (the transfer limit)
  mariadb-binlog -v     --read-from-remote-server --base64-output=decode-rows -v to /dev/null
  canal memory          canal-server (memory-instance.xml) + one SDK client that acks every batch
  canal rocksdb         canal-server (file-instance.xml: RocksDB store, meta.dat) + the same client
  canal-tail JSON       (default workload, --only tail) canal-server (memory) + canal-tail with its
                        defaults writing FlatMessage lines to a file in /dev/shm, checked afterwards
Wall time runs from the start of the reader (for canal: the server process) until the last row is
at the client, so it includes start-up and connection. The client parses every RowChange and sums
`id`; a run whose row count or id sum is wrong fails the benchmark.

--client-command runs another drain client (Canal's Java client, canal-python, canal-go built
locally) in place of the SDK's for the canal rows.

Then: scaling (1, 4, 16 destinations on one server, one client each), the SDK client with and
without prefetch (GETs ahead of the application) at two batch sizes, the server's RSS with 16
idle destinations (following the primary at its end, no client), the server's RSS under a
client that stops reading, and latency (single-row INSERTs at about 200/s; COMMIT acknowledged to
the writer -> row parsed at the client).

Prints one table and writes JSON (default build/bench/serve_bench.json). For canal runs the table
also names the server's three busiest threads and their CPU seconds (threads are named by role and
destination, e.g. stream:bench0): a thread whose seconds are near the wall time bounds the run.
"""

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKLOAD_SH = os.path.join(ROOT, "tests", "bench", "workload.sh")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

WORKLOADS = {
    "default": {"base": "/tmp/bench-mysql", "port": 3310, "N": 1000000, "BATCH": 1000, "idsum": 250000500000,
                "schema": "bench"},
    "onerow": {"base": "/tmp/bench-mysql-1row", "port": 3311, "N": 200000, "BATCH": 1, "idsum": 10000100000,
               "schema": "bench"},
}
WIDE_ROWS = 200000
OPTIONS_USED = set()  # the SDK client's ConnectorOptions, as it printed them


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql(base, statement):
    return subprocess.run(["mariadb", "--no-defaults", "-S", os.path.join(base, "mysql.sock"), "-uroot", "-N", "-e", statement],
                          check=True, capture_output=True, text=True).stdout


def mariadbd_pid(base):
    with open(os.path.join(base, "mariadbd.pid")) as f:
        return int(f.read().strip())


def stat_name_and_cpu(path):
    """The command name and utime + stime (seconds) of a /proc .../stat file."""
    with open(path) as f:
        head, tail = f.read().rsplit(")", 1)
    fields = tail.split()
    return head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / TICK


def proc_cpu(pid):
    """utime + stime of a process, seconds."""
    return stat_name_and_cpu(f"/proc/{pid}/stat")[1]


def busiest_threads(pid, count=3):
    """The names and CPU seconds of the process's `count` threads that used the most CPU: when a
    thread's seconds are close to the run's wall time, that thread is what bounds the run."""
    threads = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            threads.append(stat_name_and_cpu(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:
            continue  # the thread ended meanwhile
    return sorted(threads, key=lambda t: -t[1])[:count]


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def ensure_workload(name):
    w = WORKLOADS[name]
    env = dict(os.environ, N=str(w["N"]), BATCH=str(w["BATCH"]), BASE=w["base"], PORT=str(w["port"]))
    params = os.path.join(w["base"], "workload.params")
    have = open(params).read().strip() if os.path.exists(params) else ""
    action = "start" if have == f"N={w['N']} BATCH={w['BATCH']}" else "all"
    log(f"workload {name}: {action} ({w['base']})")
    subprocess.run(["bash", WORKLOAD_SH, action], env=env, check=True, stdout=subprocess.DEVNULL)
    files = open(os.path.join(w["base"], "workload.files")).read().strip().split(",")
    if len(files) != 1:
        raise SystemExit(f"workload {name}: expected one binlog file, found {files}")
    w["file"] = files[0]
    w["bytes"] = os.path.getsize(os.path.join(w["base"], "binlog", files[0]))
    w["rows"] = w["N"]


def ensure_wide():
    """A 100-column table's rows in a binlog file of their own on the default instance."""
    base = WORKLOADS["default"]["base"]
    marker = os.path.join(base, "wide.file")
    if os.path.exists(marker):
        name = open(marker).read().strip()
        if os.path.exists(os.path.join(base, "binlog", name)):
            return dict(base=base, port=WORKLOADS["default"]["port"], file=name, rows=WIDE_ROWS, schema="benchwide",
                        bytes=os.path.getsize(os.path.join(base, "binlog", name)), idsum=WIDE_ROWS * (WIDE_ROWS + 1) // 2)
    log("workload wide: generating 200,000 rows of a 100-column table")
    cols, values = ["id BIGINT NOT NULL PRIMARY KEY"], ["seq"]
    for i in range(1, 100):
        kind = i % 5
        if kind == 0:
            cols.append(f"c{i} INT NOT NULL"); values.append(f"seq * {i} % 100000")
        elif kind == 1:
            cols.append(f"c{i} VARCHAR(32) NULL"); values.append(f"CONCAT('v{i}-', seq)")
        elif kind == 2:
            cols.append(f"c{i} DECIMAL(12,2) NULL"); values.append(f"seq / {i}")
        elif kind == 3:
            cols.append(f"c{i} DATETIME NULL"); values.append(f"TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq + {i} SECOND")
        else:
            cols.append(f"c{i} BIGINT NULL"); values.append(f"IF(seq % 9 = 0, NULL, seq * {i})")
    sql(base, "FLUSH BINARY LOGS")
    name = sql(base, "SHOW MASTER STATUS").split()[0]
    script = ["SET SESSION time_zone = '+00:00'", "DROP DATABASE IF EXISTS benchwide", "CREATE DATABASE benchwide",
              f"CREATE TABLE benchwide.t ({', '.join(cols)}) ENGINE=InnoDB", "USE benchwide"]
    for start in range(1, WIDE_ROWS + 1, 1000):
        script.append(f"INSERT INTO benchwide.t SELECT {', '.join(values)} FROM seq_{start}_to_{start + 999}")
    subprocess.run(["mariadb", "--no-defaults", "-S", os.path.join(base, "mysql.sock"), "-uroot"],
                   input=";\n".join(script) + ";\nFLUSH BINARY LOGS;\n", text=True, check=True)
    with open(marker, "w") as f:
        f.write(name)
    return ensure_wide()


def run_timed(argv, stdout=subprocess.DEVNULL):
    """Runs argv; returns (wall seconds, CPU seconds, peak RSS MB) of that child."""
    with tempfile.TemporaryFile(mode="w+") as err:
        start = time.monotonic()
        p = subprocess.Popen(argv, stdout=stdout, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{argv[0]} failed ({p.returncode}): {err.read().strip()[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def peer(kind, w):
    common = ["mariadb-binlog", "--no-defaults", "--read-from-remote-server", "--host=127.0.0.1", f"--port={w['port']}",
              "--user=bench", "--password=bench"]
    server = mariadbd_pid(w["base"])
    cpu0 = proc_cpu(server)
    if kind == "raw":
        out = tempfile.mkdtemp(prefix="bench-raw.", dir="/dev/shm")
        wall, cpu, rss = run_timed(common + ["--raw", f"--result-file={out}/", w["file"]])
        shutil.rmtree(out)
    else:
        wall, cpu, rss = run_timed(common + ["--base64-output=decode-rows", "--verbose", w["file"]])
    return {"wall_s": wall, "client_cpu_s": cpu, "client_rss_mb": rss, "mariadbd_cpu_s": proc_cpu(server) - cpu0,
            "rows": w["rows"]}


class CanalServer:
    """canal-server with `destinations` destinations reading workload `w` from its start."""

    def __init__(self, binary, w, mode, destinations=1, start_at_end=False, extra=""):
        self.dir = tempfile.mkdtemp(prefix="canal-serve-bench.")
        self.port = free_port()
        names = [f"bench{i}" for i in range(destinations)]
        self.names = names
        conf = os.path.join(self.dir, "conf")
        os.makedirs(conf)
        with open(os.path.join(conf, "canal.properties"), "w") as f:
            f.write(f"canal.port = {self.port}\ncanal.ip = 127.0.0.1\ncanal.metrics.pull.port = 0\n"
                    f"canal.destinations = {','.join(names)}\ncanal.conf.dir = {conf}\n"
                    f"canal.file.data.dir = {self.dir}/data\ncanal.auto.scan = false\n"
                    f"canal.instance.global.spring.xml = classpath:spring/{mode}-instance.xml\n")
        for i, name in enumerate(names):
            os.makedirs(os.path.join(conf, name))
            with open(os.path.join(conf, name, "instance.properties"), "w") as f:
                f.write(f"canal.instance.master.address = 127.0.0.1:{w['port']}\n"
                        f"canal.instance.dbUsername = bench\ncanal.instance.dbPassword = bench\n"
                        f"canal.instance.mysql.slaveId = {9100 + i}\n"
                        f"canal.instance.filter.regex = {w['schema']}\\\\..*\n" + extra +
                        os.environ.get("CANAL_BENCH_INSTANCE_EXTRA", ""))
                if not start_at_end:
                    f.write(f"canal.instance.master.journal.name = {w['file']}\ncanal.instance.master.position = 4\n")
        self.proc = subprocess.Popen([binary, "--config", os.path.join(conf, "canal.properties"), "--logs",
                                      os.path.join(self.dir, "logs")],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr.log"), "w"))

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def figures(self):
        pid = self.proc.pid
        return {"server_cpu_s": proc_cpu(pid), "server_peak_rss_mb": proc_status(pid, "VmHWM") / 1024,
                "server_rss_mb": proc_status(pid, "VmRSS") / 1024,
                "busiest_threads": busiest_threads(pid)}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self, tail=None):
        """The server's logs, the last `tail` characters of each file (None: whole)."""
        text = ""
        for root, _, files in os.walk(self.dir):
            for name in files:
                if name.endswith(".log"):
                    text += open(os.path.join(root, name), errors="replace").read()[-tail if tail else 0:]
        return text

    def log_tail(self):
        return self.log_text(2000)


def client_command(args, address, destination, rows, batch, client_id):
    """The drain client's command line: the SDK client, or --client-command with its fields filled."""
    if not args.client_command:
        return [args.client, "drain", address, destination, str(rows), str(batch), str(client_id)]
    return shlex.split(args.client_command.format(address=address, host=address.split(":")[0],
                                                  port=address.split(":")[1], destination=destination, rows=rows,
                                                  batch=batch, client_id=client_id))


def run_client(command, env=None):
    """Runs a drain client to its end (killed after 900 s): its last output line (JSON with rows and
    idsum at least) and its CPU seconds (from the JSON, else the process's own rusage)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        deadline = threading.Timer(900, proc.kill)
        deadline.start()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        deadline.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        err = errors.read()
    if proc.returncode != 0:
        return None, err.strip()
    result = json.loads(out.strip().splitlines()[-1])
    result.setdefault("cpu_s", usage.ru_utime + usage.ru_stime)
    result.setdefault("bytes", 0)
    return result, err


def canal(args, w, mode, destinations=1, batch=1000, env=None):
    server_cpu0 = proc_cpu(mariadbd_pid(w["base"]))
    start = time.monotonic()
    server = CanalServer(args.server, w, mode, destinations)
    try:
        # One client per destination, at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=destinations) as pool:
            futures = [pool.submit(run_client, client_command(args, server.address, name, w["rows"], batch, 1001 + i), env)
                       for i, name in enumerate(server.names)]
            results = []
            for f in futures:
                result, err = f.result()
                if result is None:
                    raise SystemExit(f"client failed: {err}\nserver log:\n{server.log_tail()}")
                results.append(result)
        wall = time.monotonic() - start
        figures = server.figures()
    finally:
        server.stop()
    for r in results:
        if r["rows"] != w["rows"] or r["idsum"] != w["idsum"]:
            raise SystemExit(f"canal {mode}: got {r['rows']} rows with id sum {r['idsum']}, "
                             f"expected {w['rows']} and {w['idsum']}")
    if results and "options" in results[0]:
        OPTIONS_USED.add(results[0]["options"])
    out = {"wall_s": wall, "rows": w["rows"] * destinations, "client_cpu_s": sum(r["cpu_s"] for r in results),
           "entry_bytes": sum(r["bytes"] for r in results), "mariadbd_cpu_s": proc_cpu(mariadbd_pid(w["base"])) - server_cpu0}
    out.update(figures)
    return out


def tail(args, w):
    """canal-tail as README runs it (its defaults; --quiet, --max-rows) against a memory-mode
    server, its FlatMessage lines written to a file in /dev/shm; the lines are checked afterwards
    (row count and id sum), outside the timed run."""
    server_cpu0 = proc_cpu(mariadbd_pid(w["base"]))
    out_path = tempfile.mktemp(prefix="canal-tail-bench.", dir="/dev/shm")
    start = time.monotonic()
    server = CanalServer(args.server, w, "memory")
    try:
        with open(out_path, "w") as out:
            proc = subprocess.Popen([args.tail, "--address", server.address, "--destination", server.names[0],
                                     "--max-rows", str(w["rows"]), "--quiet"], stdout=out, stderr=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        err = proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"canal-tail failed: {err}\nserver log:\n{server.log_tail()}")
        figures = server.figures()
    finally:
        server.stop()
    rows = idsum = 0
    size = os.path.getsize(out_path)
    with open(out_path) as f:
        for line in f:
            m = json.loads(line)
            if m["isDdl"] or m["type"] not in ("INSERT", "UPDATE", "DELETE"):
                continue
            for row in m["data"]:
                rows += 1
                idsum += int(row["id"])
    os.unlink(out_path)
    if rows != w["rows"] or idsum != w["idsum"]:
        raise SystemExit(f"canal-tail: got {rows} rows with id sum {idsum}, expected {w['rows']} and {w['idsum']}")
    out = {"wall_s": wall, "rows": rows, "client_cpu_s": usage.ru_utime + usage.ru_stime, "entry_bytes": size,
           "mariadbd_cpu_s": proc_cpu(mariadbd_pid(w["base"])) - server_cpu0}
    out.update(figures)
    return out


def summarize(runs, w):
    best = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    s = dict(best)
    s["rows_per_s"] = s["rows"] / s["wall_s"]
    s["mb_per_s"] = w["bytes"] * (s["rows"] / w["rows"]) / s["wall_s"] / 1e6
    s["wall_min_s"] = min(r["wall_s"] for r in runs)
    s["wall_max_s"] = max(r["wall_s"] for r in runs)
    s["runs"] = len(runs)
    return s


def stall(args):
    """Server RSS over 15 s while its only client took one batch and then stopped reading."""
    w = WORKLOADS["default"]
    server = CanalServer(args.server, w, "memory")
    client = subprocess.Popen([args.client, "stall", server.address, server.names[0]], stdout=subprocess.PIPE, text=True)
    try:
        client.stdout.readline()  # the client has its batch
        samples = []
        for _ in range(150):
            time.sleep(0.1)
            samples.append(proc_status(server.proc.pid, "VmRSS") / 1024)
        figures = server.figures()
    finally:
        client.kill()
        client.wait()
        server.stop()
    return {"rss_at_1s_mb": samples[9], "rss_at_15s_mb": samples[-1], "server_peak_rss_mb": figures["server_peak_rss_mb"]}


def idle(args, mode, destinations=16):
    """Server RSS with `destinations` destinations following the primary at its end, nothing to send."""
    w = WORKLOADS["default"]
    server = CanalServer(args.server, w, mode, destinations, start_at_end=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            following = sum(server.log_text().count(f"destination {name}: following") > 0 for name in server.names)
            if following == destinations:
                break
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise SystemExit(f"idle: {following} of {destinations} destinations following\n{server.log_tail()}")
            time.sleep(0.1)
        rss = proc_status(server.proc.pid, "VmRSS") / 1024
        threads = proc_status(server.proc.pid, "Threads")
    finally:
        server.stop()
    return {"destinations": destinations, "rss_mb": rss, "rss_per_destination_mb": rss / destinations, "threads": threads}


def latency(args, mode):
    w = dict(WORKLOADS["default"], schema="benchlat")
    server = CanalServer(args.server, w, mode, start_at_end=True, extra="canal.instance.memory.batch.mode = ITEMSIZE\n")
    try:
        p = subprocess.run([args.client, "latency", server.address, server.names[0], f"127.0.0.1:{w['port']}", "bench",
                            "bench", str(args.latency_samples), "5000"], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"latency client failed: {p.stderr.strip()}\nserver log:\n{server.log_tail()}")
        result = json.loads(p.stdout)
        result.update(server.figures())
    finally:
        server.stop()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default=os.environ.get("CANAL_BUILD_DIR", os.path.join(ROOT, "build")))
    parser.add_argument("--json", default=None)
    parser.add_argument("--only", default="default,tail,onerow,wide,scaling,prefetch,idle,stall,latency",
                        help="comma-separated parts: default,onerow,wide,scaling,prefetch,idle,stall,latency")
    parser.add_argument("--latency-samples", type=int, default=2000)
    parser.add_argument("--read", choices=("views", "objects", "plain"), default="views",
                        help="how the SDK client reads rows: Message::rowChangeViews (in place), "
                             "Message::rowChanges (protobuf objects), or a new RowChange per entry")
    parser.add_argument("--client-command", default=None,
                        help="run this drain client in place of the SDK's (fields {address} {host} {port} "
                             "{destination} {rows} {batch} {client_id}); it must read {rows} rows, ack every batch, "
                             "and print as its last line JSON with rows and idsum (the sum of the id column)")
    args = parser.parse_args()
    os.environ["CANAL_BENCH_READ"] = args.read
    parts = set(args.only.split(","))
    subprocess.run(["cmake", "-S", ROOT, "-B", args.build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", args.build, "-j2", "--target", "canal-server", "canal_serve_bench_client", "canal-tail"], check=True,
                   stdout=subprocess.DEVNULL)
    args.server = os.path.join(args.build, "server", "app", "canal-server")
    if not os.path.exists(args.server):
        args.server = subprocess.run(["find", args.build, "-name", "canal-server", "-type", "f"], capture_output=True,
                                     text=True).stdout.split()[0]
    args.client = os.path.join(args.build, "bench", "canal_serve_bench_client")
    args.tail = os.path.join(args.build, "bin", "canal-tail")
    args.json = args.json or os.path.join(args.build, "bench", "serve_bench.json")

    ensure_workload("default")
    if "onerow" in parts:
        ensure_workload("onerow")
    workloads = [n for n in ("default", "onerow") if n in parts]
    if "wide" in parts:
        WORKLOADS["wide"] = ensure_wide()
        workloads.append("wide")

    report = {"machine": {"cpus": os.cpu_count(), "mariadb": sql(WORKLOADS["default"]["base"], "SELECT VERSION()").strip()},
              "workloads": {}, "results": {}, "client": args.client_command or f"SDK (canal_serve_bench_client, --read {args.read})"}
    runners = [("mariadb-binlog --raw", lambda w: peer("raw", w)), ("mariadb-binlog -v", lambda w: peer("v", w)),
               ("canal memory", lambda w: canal(args, w, "memory")), ("canal rocksdb", lambda w: canal(args, w, "file"))]
    if "tail" in parts:
        runners.append(("canal-tail JSON", lambda w: tail(args, w)))
    for name in workloads:
        w = WORKLOADS[name]
        report["workloads"][name] = {"file": w["file"], "bytes": w["bytes"], "rows": w["rows"]}
        runs = {r: [] for r, _ in runners}
        for rnd in range(args.rounds):
            for label, fn in runners:
                if name != "default" and label == "canal-tail JSON":
                    continue
                if name == "wide" and label == "canal rocksdb":
                    continue
                log(f"{name} round {rnd + 1}/{args.rounds}: {label}")
                runs[label].append(fn(w))
        report["results"][name] = {label: summarize(r, w) for label, r in runs.items() if r}

    if "scaling" in parts:
        w = WORKLOADS["default"]
        report["results"]["scaling"] = {}
        for n in (1, 4, 16):
            log(f"scaling: {n} destinations, one client each")
            report["results"]["scaling"][f"{n} clients"] = summarize([canal(args, w, "memory", destinations=n)], w)
    if "prefetch" in parts and not args.client_command:
        w = WORKLOADS["default"]
        report["results"]["prefetch"] = {}
        for batch in (1000, 20):
            for prefetch in (0, 1):
                label = f"get({batch}), prefetch {prefetch}"
                log(f"prefetch: memory store, {label}")
                env = dict(os.environ, CANAL_BENCH_PREFETCH=str(prefetch))
                report["results"]["prefetch"][label] = summarize([canal(args, w, "memory", batch=batch, env=env)], w)
    if "idle" in parts:
        report["idle"] = {}
        for mode in ("memory", "file"):
            log(f"idle: 16 destinations following ({mode})")
            report["idle"]["canal rocksdb" if mode == "file" else "canal memory"] = idle(args, mode)
    if "stall" in parts:
        log("stalled client: server RSS for 15 s")
        report["stall"] = stall(args)
    if "latency" in parts:
        report["latency"] = {}
        for mode in ("memory", "file"):
            log(f"latency: {args.latency_samples} single-row INSERTs at ~200/s ({mode})")
            report["latency"]["canal rocksdb" if mode == "file" else "canal memory"] = latency(args, mode)

    report["client_options"] = sorted(OPTIONS_USED)
    print_table(report)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nJSON: {args.json}")


def print_table(report):
    head = f"{'workload':<9} {'reader':<22} {'rows/s':>10} {'MB/s':>7} {'wall s (min-max)':>18} {'reader CPU s':>12} " \
           f"{'client CPU s':>12} {'mariadbd CPU s':>14} {'peak RSS MB':>11}  busiest server threads (CPU s)"
    print(f"canal rows read by: {report['client']}")
    if report.get("client_options"):
        print(f"  with ConnectorOptions: {'; '.join(report['client_options'])} (CANAL_BENCH_CONFIRM_ACKS, "
              f"CANAL_BENCH_PREFETCH change them)")
    print(head)
    print("-" * len(head))
    for name, results in report["results"].items():
        for label, s in results.items():
            reader_cpu = s.get("server_cpu_s", s["client_cpu_s"])
            client_cpu = f"{s['client_cpu_s']:.2f}" if "server_cpu_s" in s else "-"
            rss = s.get("server_peak_rss_mb", s.get("client_rss_mb", 0))
            print(f"{name:<9} {label:<22} {s['rows_per_s']:>10,.0f} {s['mb_per_s']:>7.0f} "
                  f"{s['wall_s']:>6.2f} ({s['wall_min_s']:.2f}-{s['wall_max_s']:.2f}) {reader_cpu:>12.2f} "
                  f"{client_cpu:>12} {s['mariadbd_cpu_s']:>14.2f} {rss:>11.1f}"
                  + ("  " + ", ".join(f"{n} {c:.2f}" for n, c in s.get("busiest_threads", []))))
    for label, i in report.get("idle", {}).items():
        print(f"idle {label}: {i['destinations']} destinations following, server RSS {i['rss_mb']:.1f} MB "
              f"({i['rss_per_destination_mb']:.2f} MB per destination, {i['threads']} threads)")
    if "stall" in report:
        s = report["stall"]
        print(f"\nstalled client (memory store, default buffers): server RSS {s['rss_at_1s_mb']:.1f} MB at 1 s, "
              f"{s['rss_at_15s_mb']:.1f} MB at 15 s, peak {s['server_peak_rss_mb']:.1f} MB")
    for label, l in report.get("latency", {}).items():
        print(f"latency {label}: COMMIT ack -> row at client p50 {l['ack_p50_us']:.0f} us, p99 {l['ack_p99_us']:.0f} us, "
              f"p99.9 {l['ack_p999_us']:.0f} us, max {l['ack_max_us']:.0f} us ({l['samples']} rows; INSERT round trip "
              f"p50 {l['insert_p50_us']:.0f} us)")


if __name__ == "__main__":
    main()
