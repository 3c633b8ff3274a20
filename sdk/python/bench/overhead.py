"""What the SDK costs: added latency in the caller's thread per logged prediction, and
how many events per second the background sender delivers to a local server.

    python bench/overhead.py                 # starts `sightline serve` ($SIGHTLINE_BIN)
    python bench/overhead.py --url URL       # or uses a running server

Caller latency: each `log_prediction` call (25 numeric features, two class scores, a
latency) is timed on its own with perf_counter_ns while the sender runs and ships the
events to the server; the same for a `@monitor`-decorated predict function, minus the
undecorated function's own time. "paced" calls at a serving-like rate, "burst" calls
back to back.

Throughput: N events are logged as fast as possible (queue large enough to hold them
all), then flush() waits until the last one is acknowledged; events/s is N divided by
the time from the first call to the end of the flush. Three receivers:
- a null sink (another process that reads each request, gunzips it, counts the events
  and answers 200): what the SDK itself can push, with the server out of the picture;
- the real server (default settings: every commit fsynced), whose stored count is
  checked;
- for reference, the server's own load generator (`sightline bench ingest`, Rust) in
  the same run: the server's ceiling on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import sightline
from sightline._encode import encoder_name

N_FEATURES = 25
COMPRESSION = "auto"


def start_server(data_dir: str):
    repo = pathlib.Path(__file__).resolve().parents[3]
    binary = os.environ.get("SIGHTLINE_BIN") or str(repo / "target" / "release" / "sightline")
    # The server's bootstrap admin token; the SDK clients read it from $SIGHTLINE_TOKEN.
    token = subprocess.run([binary, "admin", "generate-token"], capture_output=True, text=True, check=True).stdout.strip()
    os.environ["SIGHTLINE_TOKEN"] = token
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--log-format", "json", "--log-level", "warn,sightline_server=info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, SIGHTLINE_BOOTSTRAP_TOKEN=token),
    )
    for line in proc.stdout:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message") == "listening":
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, f"http://{doc['addr']}"
    raise SystemExit("the server did not start")


SINK = r"""
import gzip, http.server, sys

class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle's algorithm and the
    # client's delayed ACK stall every response by ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        n = body.count(b'"request_id"')
        out = b'{"accepted":%d,"duplicates":0,"rejected":[]}' % n
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def start_sink():
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def server_ingest_bench(events: int, connections: int) -> dict:
    """The server's own Rust load generator, for the ceiling on this machine."""
    repo = pathlib.Path(__file__).resolve().parents[3]
    binary = os.environ.get("SIGHTLINE_BIN") or str(repo / "target" / "release" / "sightline")
    out = subprocess.run(
        [binary, "bench", "ingest", "--events", str(events), "--connections", str(connections)],
        capture_output=True, text=True, timeout=900,
    ).stdout
    for line in out.splitlines():
        if line.startswith("| throughput |"):
            return {"events": events, "connections": connections,
                    "events_per_s": int(line.split("|")[2].split()[0])}
    return {"events": events, "connections": connections, "events_per_s": None}


def features(i: int) -> dict:
    return {f"f{k}": float((i * 31 + k) % 997) / 7.0 for k in range(N_FEATURES)}


def percentiles(ns: list) -> dict:
    ns = sorted(ns)
    n = len(ns)
    pick = lambda q: ns[min(n - 1, int(q * n))] / 1000.0
    return {
        "calls": n,
        "median_us": round(statistics.median(ns) / 1000.0, 2),
        "p90_us": round(pick(0.90), 2),
        "p99_us": round(pick(0.99), 2),
        "p999_us": round(pick(0.999), 2),
    }


def make_model(client: sightline.Client, name: str) -> None:
    client.create_model(
        name,
        "binary_classification",
        [f"f{k}" for k in range(N_FEATURES)],
        classes=["no", "yes"],
        positive_class="yes",
        exist_ok=True,
    )


def caller_latency(url: str, model: str, calls: int, rate: float) -> dict:
    """Per-call time of log_prediction; rate 0 means back to back."""
    rows = [features(i) for i in range(1000)]
    client = sightline.Client(url, version="v1", max_queue_size=max(20_000, calls + 1),
                              compression=COMPRESSION)
    timer = time.perf_counter_ns
    samples = []
    period = 1.0 / rate if rate else 0.0
    next_at = time.perf_counter()
    for i in range(calls):
        if period:
            next_at += period
            while time.perf_counter() < next_at:
                pass
        f = rows[i % 1000]
        t0 = timer()
        client.log_prediction(model, f, "yes", scores={"yes": 0.8, "no": 0.2}, latency_ms=1.25)
        samples.append(timer() - t0)
    client.flush()
    stats = client.stats()
    client.close()
    out = percentiles(samples)
    out["accepted"] = stats["accepted"]
    out["dropped"] = stats["dropped"]
    return out


def decorator_latency(url: str, model: str, calls: int, rate: float) -> dict:
    """Added time of @monitor: decorated call minus the bare function's median."""
    rows = [features(i) for i in range(1000)]
    client = sightline.Client(url, version="v1", max_queue_size=max(20_000, calls + 1),
                              compression=COMPRESSION)

    def predict(f):
        return {"prediction": "yes", "scores": {"yes": 0.8, "no": 0.2}}

    monitored = sightline.monitor(client, model=model)(predict)
    timer = time.perf_counter_ns
    bare = []
    for i in range(min(calls, 20_000)):
        t0 = timer()
        predict(rows[i % 1000])
        bare.append(timer() - t0)
    base = statistics.median(bare)
    samples = []
    period = 1.0 / rate if rate else 0.0
    next_at = time.perf_counter()
    for i in range(calls):
        if period:
            next_at += period
            while time.perf_counter() < next_at:
                pass
        t0 = timer()
        monitored(rows[i % 1000])
        samples.append(timer() - t0 - base)
    client.flush()
    stats = client.stats()
    client.close()
    out = percentiles(samples)
    out["accepted"] = stats["accepted"]
    return out


def throughput(url: str, model: str, events: int, workers: int, batch_size: int) -> dict:
    """Events/s from the first log call to the end of flush()."""
    rows = [features(i) for i in range(1000)]
    client = sightline.Client(
        url, version="v1", max_queue_size=events + 1, workers=workers, batch_size=batch_size,
        compression=COMPRESSION,
    )
    before = client.stats()["accepted"]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    log = client.log_prediction
    for i in range(events):
        log(model, rows[i % 1000], "yes", scores={"yes": 0.8, "no": 0.2}, latency_ms=1.25)
    t_logged = time.perf_counter()
    assert client.flush(600), "flush timed out"
    t1 = time.perf_counter()
    cpu = time.process_time() - cpu0
    stats = client.stats()
    client.close()
    return {
        "events": events,
        "workers": workers,
        "batch_size": batch_size,
        "seconds": round(t1 - t0, 3),
        "events_per_s": round(events / (t1 - t0)),
        "logging_seconds": round(t_logged - t0, 3),
        # CPU time of this whole process (caller + sender threads) per event: what the
        # SDK costs, and 1e6 / that = events/s one fully free core could send.
        "cpu_us_per_event": round(cpu / events * 1e6, 2),
        "events_per_cpu_second": round(events / cpu),
        "accepted": stats["accepted"] - before,
        "requests": stats["requests"],
        "retries": stats["retries"],
        "dropped": stats["dropped"],
        "bytes_sent": stats["bytes_sent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5000.0, help="paced calls per second")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--compression", default="auto",
                        help="Client(compression=...): auto, gzip, zstd or none")
    parser.add_argument("--no-server-bench", action="store_true",
                        help="skip the server's own ingest benchmark")
    args = parser.parse_args()
    global COMPRESSION
    COMPRESSION = None if args.compression == "none" else args.compression

    proc = None
    tmp = None
    url = args.url
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="sightline-bench-")
        proc, url = start_server(tmp.name)
    try:
        admin = sightline.Client(url)
        results = {
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "sdk": sightline.__version__,
            "json_encoder": encoder_name(),
            "compression": sightline.Client("http://127.0.0.1:9", compression=COMPRESSION)._sender.content_encoding,
            "load_average_before": os.getloadavg()[0],
        }
        make_model(admin, "bench-latency")
        make_model(admin, "bench-throughput")
        results["log_prediction_paced"] = caller_latency(url, "bench-latency", args.calls, args.rate)
        results["log_prediction_burst"] = caller_latency(url, "bench-latency", args.calls, 0)
        results["monitor_decorator_paced"] = decorator_latency(url, "bench-latency", args.calls, args.rate)
        sink, sink_url = start_sink()
        try:
            results["sink_1_worker"] = throughput(sink_url, "bench-sink", args.events, 1, 1000)
            results["sink_2_workers"] = throughput(sink_url, "bench-sink", args.events, 2, 1000)
        finally:
            sink.terminate()
            sink.wait(10)
        results["server_1_worker"] = throughput(url, "bench-throughput", args.events, 1, 1000)
        results["server_2_workers"] = throughput(url, "bench-throughput", args.events, 2, 1000)
        stored = sum(1 for _ in admin.list_predictions("bench-throughput", page_size=1000))
        results["server_stored"] = stored
        admin.close()
        if args.url is None and not args.no_server_bench:
            results["server_own_bench_1_conn"] = server_ingest_bench(args.events, 1)
            results["server_own_bench_4_conn"] = server_ingest_bench(args.events, 4)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if tmp is not None:
            tmp.cleanup()

    results["load_average_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"python {results['python']} on {results['machine']}, sightline SDK {results['sdk']}, "
          f"JSON encoder {results['json_encoder']}, compression {results['compression']}, load average {results['load_average_before']:.1f} "
          f"before / {results['load_average_after']:.1f} after")
    print()
    print("| caller latency per logged prediction (25 features) | calls | median µs | p90 µs | p99 µs | p99.9 µs |")
    print("|---|---|---|---|---|---|")
    for key, label in (
        ("log_prediction_paced", f"log_prediction, {args.rate:g} calls/s"),
        ("log_prediction_burst", "log_prediction, back to back"),
        ("monitor_decorator_paced", f"@monitor added time, {args.rate:g} calls/s"),
    ):
        r = results[key]
        print(f"| {label} | {r['calls']} | {r['median_us']} | {r['p90_us']} | {r['p99_us']} | {r['p999_us']} |")
    print()
    print("| sender throughput | events | seconds | events/s | SDK CPU µs/event | events per SDK CPU-second | requests | dropped |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label in (
        ("sink_1_worker", "SDK → null sink, 1 worker"),
        ("sink_2_workers", "SDK → null sink, 2 workers"),
        ("server_1_worker", "SDK → sightline serve, 1 worker"),
        ("server_2_workers", "SDK → sightline serve, 2 workers"),
    ):
        r = results[key]
        print(f"| {label} | {r['events']} | {r['seconds']} | {r['events_per_s']} | "
              f"{r['cpu_us_per_event']} | {r['events_per_cpu_second']} | {r['requests']} | {r['dropped']} |")
    for key, label in (
        ("server_own_bench_1_conn", "`sightline bench ingest` (Rust client), 1 connection"),
        ("server_own_bench_4_conn", "`sightline bench ingest` (Rust client), 4 connections"),
    ):
        if key in results:
            r = results[key]
            print(f"| {label} | {r['events']} | | {r['events_per_s']} | | | | |")
    print()
    print(f"events stored by the server for the throughput model: {results['server_stored']} "
          f"(expected {2 * args.events})")
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
