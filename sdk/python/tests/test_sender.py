"""The background sender, seen through a proxy in front of the real server: batching,
gzip, retries on 429/503 and lost connections, permanent errors, the bounded queue,
shutdown flush, threads and fork."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sightline
from conftest import FaultProxy, ServerProcess, count_predictions, make_model, row, wait_for


def fast_client(url, **kw):
    kw.setdefault("version", "v1")
    kw.setdefault("backoff", 0.05)
    kw.setdefault("backoff_max", 0.5)
    return sightline.Client(url, **kw)


def test_batches_by_size(proxy, model, server_url):
    with fast_client(proxy.url, batch_size=50, flush_interval=30) as c:
        for i in range(230):
            c.log_prediction(model, row(i), "no")
        # Four full batches go out without waiting for the interval or a flush.
        assert wait_for(lambda: sum(len(r.items()) for r in proxy.posts()) >= 200)
        assert [len(r.items()) for r in proxy.posts()] == [50, 50, 50, 50]
        assert c.flush(10)
        assert [len(r.items()) for r in proxy.posts()] == [50, 50, 50, 50, 30]
        assert c.stats()["accepted"] == 230
    with sightline.Client(server_url) as reader:
        assert count_predictions(reader, model) == 230


def test_batches_by_interval(proxy, model):
    with fast_client(proxy.url, batch_size=1000, flush_interval=0.3) as c:
        t0 = time.monotonic()
        for i in range(7):
            c.log_prediction(model, row(i), "no")
        assert wait_for(lambda: len(proxy.posts()) == 1, timeout=5)
        elapsed = proxy.posts()[0].at - t0
        assert 0.2 <= elapsed < 2.0, elapsed
        assert len(proxy.posts()[0].items()) == 7


def test_bodies_are_gzipped(proxy, model):
    with fast_client(proxy.url, compression="gzip") as c:
        for i in range(100):
            c.log_prediction(model, row(i), "yes", scores={"yes": 0.9, "no": 0.1})
        c.flush(10)
    post = proxy.posts()[0]
    assert post.headers["content-encoding"] == "gzip"
    assert post.headers["content-type"] == "application/json"
    assert len(post.raw) < len(post.body) / 3
    assert len(post.items()) == 100
    assert post.status == 200


def test_bodies_are_zstd_compressed_with_the_fast_extra(proxy, model):
    pytest.importorskip("zstandard")
    with fast_client(proxy.url) as c:  # compression="auto"
        for i in range(100):
            c.log_prediction(model, row(i), "yes")
        c.flush(10)
        assert c.stats()["accepted"] == 100
    post = proxy.posts()[0]
    assert post.headers["content-encoding"] == "zstd"
    assert len(post.raw) < len(post.body) / 3
    assert post.status == 200


def test_small_bodies_are_not_compressed(proxy, model):
    with fast_client(proxy.url) as c:
        c.log_prediction(model, {"age": 1}, "yes")
        c.flush(10)
    assert "content-encoding" not in proxy.posts()[0].headers


def test_compression_can_be_turned_off(proxy, model):
    with fast_client(proxy.url, compression=None) as c:
        for i in range(100):
            c.log_prediction(model, row(i), "yes")
        c.flush(10)
    assert "content-encoding" not in proxy.posts()[0].headers


def test_unknown_compression_is_refused():
    with pytest.raises(ValueError):
        sightline.Client("http://127.0.0.1:9", compression="brotli")


def test_retries_429_and_503_honouring_retry_after(proxy, model, server_url):
    proxy.inject((429, {"Retry-After": "1"}), (503, {"Retry-After": "0"}), (503, {}))
    with fast_client(proxy.url, batch_size=20) as c:
        ids = [c.log_prediction(model, row(i), "no") for i in range(20)]
        assert c.flush(30)
        s = c.stats()
    posts = proxy.posts()
    assert [p.status for p in posts] == [429, 503, 503, 200]
    # The retry after the 429 waited for its Retry-After.
    assert posts[1].at - posts[0].at >= 0.95
    # Every attempt carried the same events.
    assert all([e["request_id"] for e in p.items()] == ids for p in posts)
    assert s["retries"] == 3 and s["accepted"] == 20 and s["failed"] == 0
    with sightline.Client(server_url) as reader:
        assert count_predictions(reader, model) == 20


def test_retries_http_date_retry_after(proxy, model):
    import email.utils

    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.inject((503, {"Retry-After": when}))
    with fast_client(proxy.url) as c:
        c.log_prediction(model, row(0), "no")
        assert c.flush(30)
    posts = proxy.posts()
    assert [p.status for p in posts] == [503, 200]
    assert posts[1].at - posts[0].at >= 0.9  # date resolution is one second


def test_retries_lost_connections(proxy, model):
    proxy.inject("reset", "reset")
    with fast_client(proxy.url) as c:
        c.log_prediction(model, row(0), "no")
        assert c.flush(30)
        assert c.stats()["accepted"] == 1
        assert c.stats()["retries"] >= 1


def test_backoff_grows_exponentially(proxy, model):
    proxy.inject(*([(503, {})] * 4))
    with fast_client(proxy.url, backoff=0.1, backoff_max=10) as c:
        c.log_prediction(model, row(0), "no")
        assert c.flush(30)
    at = [p.at for p in proxy.posts()]
    gaps = [b - a for a, b in zip(at, at[1:])]
    # Waits are drawn from [d/2, d] with d = 0.1, 0.2, 0.4, 0.8.
    for gap, d in zip(gaps, [0.1, 0.2, 0.4, 0.8]):
        assert d / 2 - 0.02 <= gap <= d + 0.5, gaps


def test_gives_up_after_max_retries(proxy, model, caplog):
    proxy.inject(*([(503, {})] * 10))
    with fast_client(proxy.url, max_retries=2, backoff=0.01) as c:
        with caplog.at_level(logging.WARNING, logger="sightline"):
            c.log_prediction(model, row(0), "no")
            assert c.flush(30)
        s = c.stats()
    assert len(proxy.posts()) == 3
    assert s["failed"] == 1 and s["retries"] == 2
    assert any("after 2 retries" in r.getMessage() for r in caplog.records)


def test_permanent_4xx_not_retried_and_reported_once(proxy, caplog, server_url):
    with fast_client(proxy.url, batch_size=10, flush_interval=30) as c:
        with caplog.at_level(logging.WARNING, logger="sightline"):
            for i in range(30):
                c.log_prediction("model-that-does-not-exist", row(i), "no")
            assert c.flush(30)
        s = c.stats()
    posts = proxy.posts()
    # Three batches, each sent exactly once: a 404 is not retried.
    assert [p.status for p in posts] == [404, 404, 404]
    assert s["failed"] == 30 and s["retries"] == 0
    warnings = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "model_not_found" in warnings[0].getMessage()


def test_injected_permanent_400_not_retried(proxy, model):
    proxy.inject((400, {}))
    with fast_client(proxy.url) as c:
        c.log_prediction(model, row(0), "no")
        assert c.flush(10)
        assert c.stats()["failed"] == 1
    assert len(proxy.posts()) == 1


def test_rejected_events_counted_and_reported_once(proxy, model, caplog):
    with fast_client(proxy.url, batch_size=10, flush_interval=30) as c:
        with caplog.at_level(logging.WARNING, logger="sightline"):
            for i in range(20):
                bad = i % 2 == 0
                c.log_prediction(model, {**row(i), "age": "old"} if bad else row(i), "no")
            assert c.flush(10)
        s = c.stats()
    assert s["accepted"] == 10 and s["rejected"] == 10
    assert [p.status for p in proxy.posts()] == [200, 200]
    msgs = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(msgs) == 1, msgs
    assert "$.events[].features.age" in msgs[0]


def test_all_rejected_422_is_not_retried(proxy, model):
    with fast_client(proxy.url) as c:
        for i in range(5):
            c.log_prediction(model, {"age": None}, "no")
        assert c.flush(10)
        s = c.stats()
    assert [p.status for p in proxy.posts()] == [422]
    assert s["rejected"] == 5 and s["failed"] == 0


def test_numpy_and_nan_values_are_sent(client, model):
    np = pytest.importorskip("numpy")
    rid = client.log_prediction(
        model,
        {"age": np.int64(30), "income": float("nan"), "city": np.str_("lyon"), "member": np.bool_(True)},
        np.str_("yes"),
        scores={"yes": np.float32(0.75), "no": np.float64(0.25)},
        latency_ms=np.float64(1.5),
    )
    client.flush(10)
    p = client.get_prediction(model, rid)
    assert p["features"] == {"age": 30.0, "income": None, "city": "lyon", "member": True}
    assert p["scores"] == {"yes": 0.75, "no": 0.25}


def test_dropped_counter_when_queue_full_never_blocks(proxy, model):
    proxy.hold()  # the first batch hangs in flight; the queue fills behind it
    c = fast_client(proxy.url, batch_size=10, max_queue_size=50, flush_interval=0.05)
    try:
        c.log_prediction(model, row(0), "no")
        assert wait_for(lambda: len(proxy.requests) == 1)
        worst = 0.0
        for i in range(1, 1000):
            t = time.perf_counter()
            c.log_prediction(model, row(i), "no")
            worst = max(worst, time.perf_counter() - t)
        assert c.dropped == 1000 - 1 - 50
        assert c.stats()["dropped"] == c.dropped
        assert c.stats()["queued"] == 50
        assert worst < 0.5, worst  # logging never waited for the stalled sender (30 s)
    finally:
        proxy.release()
        assert c.close(timeout=20)
    assert c.stats()["accepted"] == 51


def test_close_flushes_and_later_events_are_dropped(proxy, model, server_url):
    c = fast_client(proxy.url, flush_interval=60)
    for i in range(42):
        c.log_prediction(model, row(i), "no")
    assert c.close(timeout=10)
    assert sum(len(p.items()) for p in proxy.posts()) == 42
    c.log_prediction(model, row(99), "no")
    assert c.dropped == 1
    assert c.close() is True  # idempotent


def test_close_timeout_when_server_down(model):
    c = fast_client("http://127.0.0.1:9", backoff=0.2, backoff_max=0.2, max_retries=100)
    c.log_prediction(model, row(0), "no")
    t = time.monotonic()
    assert c.close(timeout=1) is False
    assert time.monotonic() - t < 5
    assert c.stats()["failed"] == 1


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys, sightline
    url, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = sightline.Client(url, version="v1", flush_interval=60)
    for i in range(n):
        client.log_prediction(model, {"age": i}, "no", request_id=f"exit-{i}")
    # No flush, no close: the exit hook must deliver them.
    """
)


def test_flush_at_interpreter_exit(server_url, model):
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, server_url, model, "321"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    with sightline.Client(server_url) as reader:
        assert count_predictions(reader, model) == 321
        assert reader.get_prediction(model, "exit-320")["features"]["age"] == 320


def test_threads_log_concurrently(proxy, model, server_url):
    with fast_client(proxy.url, batch_size=200, workers=2) as c:
        ids = []
        lock = threading.Lock()

        def work(k):
            mine = [c.log_prediction(model, row(i), "no") for i in range(500)]
            with lock:
                ids.extend(mine)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.flush(30)
        s = c.stats()
    assert len(set(ids)) == 4000
    assert s["accepted"] == 4000 and s["dropped"] == 0 and s["duplicates"] == 0
    with sightline.Client(server_url) as reader:
        assert count_predictions(reader, model) == 4000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_a_fresh_sender(proxy, model, server_url):
    c = fast_client(proxy.url, flush_interval=60)
    parent_ids = [c.log_prediction(model, row(i), "no") for i in range(10)]
    # The parent has queued events and a running sender thread at fork time.
    assert c.stats()["queued"] == 10
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            s = c.stats()
            assert s["queued"] == 0, s  # the parent's events are the parent's to send
            child_ids = [c.log_prediction(model, row(i), "yes") for i in range(7)]
            assert c.flush(20)
            assert c.stats()["accepted"] == 7, c.stats()
            os.write(w, ",".join(child_ids).encode())
            code = 0
        except BaseException as e:  # pragma: no cover - reported through the exit code
            os.write(w, f"error: {e!r}".encode())
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    child_ids = data.decode().split(",")
    assert c.close(20)
    assert c.stats()["accepted"] == 10
    with sightline.Client(server_url) as reader:
        stored = {p["request_id"]: p["prediction"] for p in reader.list_predictions(model)}
    assert len(stored) == 17
    assert all(stored[i] == "no" for i in parent_ids)
    assert all(stored[i] == "yes" for i in child_ids)
    assert not set(parent_ids) & set(child_ids)


_pool_client = None


def test_multiprocessing_fork_workers(server_url, model):
    global _pool_client
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    _pool_client = c = fast_client(server_url)
    c.log_prediction(model, row(0), "no", request_id="from-parent")
    try:
        with ctx.Pool(2) as pool:
            results = pool.map(_pool_worker, [(model, k) for k in range(4)])
    finally:
        _pool_client = None
    assert all(results)
    assert c.close(20)
    with sightline.Client(server_url) as reader:
        assert count_predictions(reader, model) == 1 + 4 * 5


def _pool_worker(arg):
    # Runs in a forked pool process, with the client the parent created before forking.
    model, k = arg
    for i in range(5):
        _pool_client.log_prediction(model, row(i), "no", request_id=f"pool-{k}-{i}")
    # Pool workers leave through os._exit (no exit hooks): flush explicitly.
    return _pool_client.flush(20)


def test_413_batches_are_split(tmp_path, model):
    small = ServerProcess(tmp_path, "--max-batch-events", "8")
    try:
        name = make_model(small.url)
        with fast_client(small.url, batch_size=50) as c:
            for i in range(50):
                c.log_prediction(name, row(i), "no")
            assert c.flush(30)
            s = c.stats()
            assert s["accepted"] == 50 and s["failed"] == 0
            result = c.log_predictions(name, [{"features": row(i), "prediction": "yes"} for i in range(30)], wait=True)
            assert result.accepted == 30 and result.failed == 0
    finally:
        small.stop()


def test_server_restart_is_survived(tmp_path):
    data = tmp_path / "data"
    first = ServerProcess(data)
    name = make_model(first.url)
    proxy = FaultProxy(first.url)
    try:
        c = fast_client(proxy.url, backoff=0.1, backoff_max=0.5, max_retries=50)
        c.log_prediction(name, row(0), "no")
        assert c.flush(10)
        first.stop()
        c.log_prediction(name, row(1), "no")
        time.sleep(0.5)
        second = ServerProcess(data)
        proxy.upstream = second.addr
        try:
            assert c.flush(30)
            assert c.stats()["accepted"] == 2
            with sightline.Client(second.url) as reader:
                assert count_predictions(reader, name) == 2
        finally:
            c.close(5)
            second.stop()
    finally:
        proxy.close()
        first.stop()


def test_real_server_overload_429_is_retried(tmp_path):
    """The server's own 429 (write queue full, Retry-After: 1), provoked with a
    one-event queue and concurrent senders: everything still arrives, once."""
    busy = ServerProcess(tmp_path, "--queue-capacity-events", "1")
    proxy = FaultProxy(busy.url)
    try:
        name = make_model(busy.url)
        with fast_client(proxy.url, workers=4, batch_size=25, flush_interval=0.05, max_retries=20) as c:
            ids = [c.log_prediction(name, row(i), "no") for i in range(2000)]
            assert c.flush(120)
            s = c.stats()
        statuses = [p.status for p in proxy.posts()]
        overloaded = [p for p in proxy.posts() if p.status == 429]
        assert overloaded, f"the server never answered 429: {sorted(set(statuses))}"
        assert s["retries"] == len(overloaded)
        assert s["accepted"] == 2000 and s["failed"] == 0
        # The SDK waited at least the server's Retry-After before resending.
        by_first_id = {}
        for p in proxy.posts():
            by_first_id.setdefault(p.items()[0]["request_id"], []).append(p)
        for attempts in by_first_id.values():
            for a, b in zip(attempts, attempts[1:]):
                if a.status == 429:
                    assert b.at - a.at >= 0.95
        with sightline.Client(busy.url) as reader:
            assert {p["request_id"] for p in reader.list_predictions(name, page_size=1000)} == set(ids)
    finally:
        proxy.close()
        busy.stop()


def test_exit_is_not_held_up_by_a_dead_server():
    script = textwrap.dedent(
        """
        import sightline
        c = sightline.Client("http://127.0.0.1:9", version="v1", close_timeout=1, backoff=0.2)
        for i in range(100):
            c.log_prediction("m", {"x": i}, 1)
        """
    )
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t
    assert out.returncode == 0, out.stderr
    assert elapsed < 8, elapsed  # close_timeout=1, plus interpreter start-up
    assert "dropping 100 events" in out.stderr
