"""Fixtures: a real `sightline serve` on an ephemeral loopback port with a temporary
data dir, clients, models, and a fault-injecting HTTP proxy placed in front of the
server to see and disturb what the SDK sends."""

from __future__ import annotations

import base64
import gzip
import http.client
import http.server
import itertools
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional

import pytest

import sightline

REPO = pathlib.Path(__file__).resolve().parents[3]
SDK = pathlib.Path(__file__).resolve().parents[1]


def server_binary() -> str:
    path = os.environ.get("SIGHTLINE_BIN") or str(REPO / "target" / "release" / "sightline")
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no server binary at {path}: build it with `cargo build --release -p sightline` "
            "or set SIGHTLINE_BIN",
            pytrace=False,
        )
    return path


def admin_token() -> str:
    """One admin token for the whole run: every server starts with it as its bootstrap
    token, and every ``sightline.Client`` picks it up from ``$SIGHTLINE_TOKEN``."""
    token = os.environ.get("SIGHTLINE_TOKEN")
    if not token:
        out = subprocess.run([server_binary(), "admin", "generate-token"], capture_output=True, text=True, check=True)
        token = out.stdout.strip()
        os.environ["SIGHTLINE_TOKEN"] = token
    return token


class ServerProcess:
    """A `sightline serve` child; its JSON log lines are kept in ``logs``. With
    ``ssl_context`` the server is expected to speak HTTPS (``extra`` names its
    certificate) and is reached with that context."""

    def __init__(self, data_dir: pathlib.Path, *extra: str, ssl_context: Any = None) -> None:
        self.logs: List[Dict[str, Any]] = []
        # A master key file outside the data dir, as in production: without one the
        # server generates a key beside the data and warns about it.
        key_file = data_dir.with_name(data_dir.name + "-master.key")
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("1 " + base64.b64encode(os.urandom(32)).decode() + "\n")
        env = dict(os.environ, SIGHTLINE_BOOTSTRAP_TOKEN=admin_token())
        self.proc = subprocess.Popen(
            [
                server_binary(),
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(data_dir),
                "--master-key-file",
                str(key_file),
                "--log-format",
                "json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 60
        addr = None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            self.logs.append(doc)
            fields = doc.get("fields", doc)
            if fields.get("message") == "listening" or doc.get("message") == "listening":
                addr = fields.get("addr") or doc.get("addr")
                break
            if time.monotonic() > deadline:
                break
        if addr is None:
            self.proc.kill()
            raise RuntimeError(f"the server did not start; log: {self.logs[-5:]}")
        self.addr = addr
        self.url = f"{'https' if ssl_context else 'http'}://{addr}"
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        # Wait until the API answers (start-up recovery done).
        client = sightline.Client(self.url, ssl_context=ssl_context)
        for _ in range(200):
            if client.health():
                break
            time.sleep(0.05)
        client.close()

    def _read_rest(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.logs.append(json.loads(line))
            except ValueError:
                pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(5)  # the last log lines


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("sightline-data"))
    yield s
    s.stop()
    # Whatever the SDK sent, the server must never have failed internally.
    errors = [line for line in s.logs if line.get("level") in ("ERROR", "WARN")]
    assert not errors, f"the server logged {len(errors)} errors or warnings, e.g. {errors[:3]}"
    assert s.proc.returncode == 0, f"the server exited with {s.proc.returncode}"


@pytest.fixture(scope="session")
def server_url(server) -> str:
    return server.url


_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


CREDIT_FEATURES = [
    {"name": "age", "type": "numeric", "nullable": False},
    {"name": "income", "type": "numeric"},
    {"name": "city", "type": "categorical"},
    {"name": "member", "type": "boolean"},
]


def make_model(url: str, name: Optional[str] = None) -> str:
    """A binary classifier (classes no/yes) with four features and a version v1."""
    name = name or unique("credit")
    with sightline.Client(url) as c:
        c.create_model(
            name,
            "binary_classification",
            CREDIT_FEATURES,
            classes=["no", "yes"],
            positive_class="yes",
        )
        c.create_version(name, "v1")
    return name


@pytest.fixture
def model(server_url) -> str:
    return make_model(server_url)


@pytest.fixture
def client(server_url):
    c = sightline.Client(server_url, version="v1", flush_interval=0.2)
    yield c
    c.close(timeout=5)


def row(i: int) -> Dict[str, Any]:
    return {"age": 20 + i % 50, "income": 1000.0 * (i % 7), "city": ["paris", "lyon"][i % 2], "member": i % 3 == 0}


def count_predictions(client: sightline.Client, model: str) -> int:
    return sum(1 for _ in client.list_predictions(model, page_size=1000))


# -- fault-injecting proxy ------------------------------------------------------------


class Seen:
    """One request the proxy received."""

    def __init__(self, method: str, path: str, headers: Dict[str, str], raw: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.raw = raw
        self.at = time.monotonic()
        self.status: Optional[int] = None

    @property
    def body(self) -> bytes:
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            return gzip.decompress(self.raw)
        if encoding == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(self.raw)
        return self.raw

    def items(self) -> List[Dict[str, Any]]:
        doc = json.loads(self.body)
        return doc.get("events") or doc.get("labels") or []


class FaultProxy:
    """An HTTP proxy in front of the real server. ``inject`` queues fake answers
    (status, headers) — or ``"reset"`` to drop the connection unanswered — given to the
    next POSTs and PUTs instead of forwarding them; ``hold()`` stalls every request until
    ``release()``. ``requests`` lists what arrived."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.replace("http://", "")
        self.requests: List[Seen] = []
        self.faults: List[Any] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls per answer

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                )
                with proxy.lock:
                    proxy.requests.append(seen)
                    fault = proxy.faults.pop(0) if (proxy.faults and self.command in ("POST", "PUT")) else None
                proxy.gate.wait(30)
                if fault == "reset":
                    seen.status = 0
                    self.close_connection = True
                    try:
                        import socket

                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault is not None:
                    status, headers = fault
                    body = json.dumps(
                        {"type": "about:blank", "title": "injected", "status": status,
                         "code": "injected", "detail": "injected by the test proxy"}
                    ).encode()
                    seen.status = status
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request(self.command, self.path, body=raw or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, resp_headers = resp.status, resp.getheaders()
                except OSError as e:  # upstream down: answer like a gateway would
                    data = str(e).encode()
                    status, resp_headers = 502, [("Content-Type", "text/plain")]
                seen.status = status
                self.send_response(status)
                for k, v in resp_headers:
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def inject(self, *faults: Any) -> None:
        with self.lock:
            self.faults.extend(faults)

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def posts(self) -> List[Seen]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def close(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(server_url):
    p = FaultProxy(server_url)
    yield p
    p.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- in CI nothing may be skipped -----------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With SIGHTLINE_E2E_TOOLS=1 (set by the repository's scripts/test) a skipped test
    is a failure: every optional package the tests use is installed there."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("SIGHTLINE_E2E_TOOLS") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped, but SIGHTLINE_E2E_TOOLS=1 requires it to run: {report.longrepr}"
