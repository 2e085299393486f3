"""Benchmark: the live booth's begin and complete, beside bare baselines.

Three measurements, each beside a baseline run in the same process:

1. In process, one caller: ``begin`` then ``complete`` of a model
   invocation, one after the other. Baseline: one bare SQLite INSERT per
   commit, with the same durability (WAL, synchronous=FULL).
2. In process, 32 caller threads doing the same. Baseline: 32 threads each
   committing bare INSERTs to the same file.
3. Over HTTP: ``ssoar serve``'s app on uvicorn in a child process, driven by
   32 keep-alive connections from this process. Baseline: a bare Starlette
   endpoint on uvicorn with the same settings, driven the same way.

Every reservation is durable before its answer returns, in ssoar and in the
baselines. Latency percentiles are per request: begin, and complete. This
process calls ``ssoar.live.tune_collector()`` before it runs anything, as
``ssoar serve`` does for its own process.

Usage:
    python bench/live_booth.py [--crossings 16000] [--callers 32]
        [--only in-process|threads|http]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ssoar.config._settings import load_settings
from ssoar.live import (
    BeginCrossing,
    CompleteCrossing,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    UsageReport,
    tune_collector,
)

_MODEL = {"provider": "openai", "model": "gpt-4.1"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _open(booth: LiveBooth, sessions: int) -> list[str]:
    ids = []
    for _ in range(sessions):
        answer = booth.open_session(
            "bench",
            OpenSession(
                participants=[ParticipantSpec("agent:bench")],
                grants=[GrantSpec("agent:bench", ["model_invocation"])],
                quotas=[
                    QuotaSpec("budget", "money", "100000", currency="USD"),
                    QuotaSpec("tokens", "tokens", "1000000000"),
                ],
            ),
        )
        ids.append(answer.session_id)
    return ids


def _booth(folder: Path) -> LiveBooth:
    settings = load_settings(
        {"db": str(folder / "live.db"), "key_file": str(folder / "live.key")}
    )
    return LiveBooth(settings, deliver_webhooks=False)


def _crossing(booth: LiveBooth, session_id: str, key: str, begins: list[float]) -> None:
    started = time.perf_counter()
    answer = booth.begin(
        "bench",
        session_id,
        BeginCrossing(
            kind="model_invocation",
            invoker="agent:bench",
            input_tokens=1200,
            max_output_tokens=400,
            crossing_id=key,
            **_MODEL,
        ),
    )
    begins.append(time.perf_counter() - started)
    assert answer.allowed, answer.reasons
    booth.complete(
        "bench",
        session_id,
        key,
        CompleteCrossing(usage=UsageReport(input_tokens=1180, output_tokens=212)),
    )


def _bare_table(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA busy_timeout = 10000")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS rows (session_id TEXT, seq INTEGER, "
        "body BLOB, PRIMARY KEY (session_id, seq))"
    )
    return connection


def _bare_insert(connection: sqlite3.Connection, key: str, seq: int) -> float:
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO rows VALUES (?, ?, ?)", (key, seq, b"x" * 600))
    connection.execute("COMMIT")
    return time.perf_counter() - started


def bench_one_caller(folder: Path, crossings: int) -> dict[str, float]:
    booth = _booth(folder)
    (session_id,) = _open(booth, 1)
    for index in range(50):
        _crossing(booth, session_id, f"warm{index}", [])
    begins: list[float] = []
    started = time.perf_counter()
    for index in range(crossings):
        _crossing(booth, session_id, f"c{index}", begins)
    elapsed = time.perf_counter() - started
    booth.close()
    bare = _bare_table(folder / "bare.db")
    inserts = [_bare_insert(bare, "s", index) for index in range(crossings)]
    bare.close()
    return {
        "crossings_per_s": crossings / elapsed,
        "begin_p50_ms": _percentile(begins, 0.5) * 1000,
        "begin_p99_ms": _percentile(begins, 0.99) * 1000,
        "baseline_inserts_per_s": len(inserts) / sum(inserts),
        "baseline_p50_ms": _percentile(inserts, 0.5) * 1000,
        "baseline_p99_ms": _percentile(inserts, 0.99) * 1000,
    }


def bench_threads(folder: Path, crossings: int, callers: int) -> dict[str, float]:
    booth = _booth(folder)
    sessions = _open(booth, callers)
    # The first crossing of a session also opens its accounts. As in the
    # one-caller run, warm-up crossings are left out of the figures.
    for session_id in sessions:
        _crossing(booth, session_id, "warm", [])
    batches_before = booth.commit.batches
    operations_before = booth.commit.operations
    per_caller = crossings // callers
    begins: list[float] = []
    barrier = threading.Barrier(callers + 1)

    def caller(index: int) -> None:
        barrier.wait()
        for number in range(per_caller):
            _crossing(booth, sessions[index], f"c{number}", begins)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    batches = booth.commit.batches - batches_before
    operations = booth.commit.operations - operations_before
    booth.close()
    bare_path = folder / "bare-threads.db"
    _bare_table(bare_path).close()
    counts = [0] * callers
    bare_barrier = threading.Barrier(callers + 1)

    def bare_caller(index: int) -> None:
        connection = _bare_table(bare_path)
        bare_barrier.wait()
        for number in range(per_caller):
            _bare_insert(connection, f"s{index}", number)
            counts[index] += 1
        connection.close()

    threads = [threading.Thread(target=bare_caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    bare_barrier.wait()
    bare_started = time.perf_counter()
    for thread in threads:
        thread.join()
    bare_elapsed = time.perf_counter() - bare_started
    return {
        "crossings_per_s": per_caller * callers / elapsed,
        "begin_p50_ms": _percentile(begins, 0.5) * 1000,
        "begin_p99_ms": _percentile(begins, 0.99) * 1000,
        "operations_per_commit": operations / max(1, batches),
        "baseline_inserts_per_s": sum(counts) / bare_elapsed,
    }


# HTTP


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_ssoar(folder: str, port: int) -> None:
    import uvicorn

    from ssoar.server import ServiceLimits, build_app, tune_collector

    booth = _booth(Path(folder))
    app = build_app(booth, ServiceLimits(requests_per_second=1e9, burst=1_000_000_000))
    # As 'ssoar serve' does.
    tune_collector()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


def _serve_bare(port: int) -> None:
    import msgspec
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    class Body(msgspec.Struct):
        kind: str

    decoder = msgspec.json.Decoder(Body)

    async def endpoint(request: Request) -> Response:
        body = decoder.decode(await request.body())
        return Response(
            msgspec.json.encode({"allowed": True, "kind": body.kind}),
            media_type="application/json",
        )

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


async def _drive(
    port: int,
    requests: list[list[tuple[str, bytes]]],
    latencies: list[float],
) -> float:
    """Send each connection's requests in order over one keep-alive socket."""

    async def connection(items: list[tuple[str, bytes]]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path, body in items:
            head = (
                f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                f"authorization: Bearer {_KEY[0]}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(header[9:12])
            if status >= 300:
                raise RuntimeError(f"{path}: HTTP {status}: {payload[:300]!r}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(items) for items in requests))
    return time.perf_counter() - started


_KEY = [""]


def bench_http(folder: Path, crossings: int, clients: int) -> dict[str, float]:
    import msgspec

    context = multiprocessing.get_context("spawn")
    booth = _booth(folder)
    _KEY[0] = booth.create_key("bench", ("booth", "read")).secret
    sessions = _open(booth, clients)
    booth.close()
    port = _free_port()
    server = context.Process(target=_serve_ssoar, args=(str(folder), port))
    server.start()
    try:
        _wait_port(port)
        per_client = crossings // clients
        plans: list[list[tuple[str, bytes]]] = []
        for index in range(clients):
            base = f"/v1/sessions/{sessions[index]}/crossings"
            items = []
            for number in range(per_client):
                key = f"h{number}"
                items.append(
                    (
                        base,
                        msgspec.json.encode(
                            BeginCrossing(
                                kind="model_invocation",
                                invoker="agent:bench",
                                input_tokens=1200,
                                max_output_tokens=400,
                                crossing_id=key,
                                **_MODEL,
                            )
                        ),
                    )
                )
                items.append(
                    (
                        f"{base}/{key}/complete",
                        msgspec.json.encode(
                            CompleteCrossing(
                                usage=UsageReport(input_tokens=1180, output_tokens=212)
                            )
                        ),
                    )
                )
            plans.append(items)
        warm = [[item] for item in [plans[0][0], plans[0][1]]]
        asyncio.run(_drive(port, [warm[0][:1]], []))
        asyncio.run(_drive(port, [warm[1][:1]], []))
        plans[0] = plans[0][2:]
        latencies: list[float] = []
        elapsed = asyncio.run(_drive(port, plans, latencies))
        requests = sum(len(items) for items in plans)
    finally:
        server.terminate()
        server.join()
    bare_port = _free_port()
    bare = context.Process(target=_serve_bare, args=(bare_port,))
    bare.start()
    try:
        _wait_port(bare_port)
        bare_plans = [
            [("/bare", b'{"kind": "model_invocation"}')] * len(items) for items in plans
        ]
        bare_latencies: list[float] = []
        bare_elapsed = asyncio.run(_drive(bare_port, bare_plans, bare_latencies))
    finally:
        bare.terminate()
        bare.join()
    return {
        "crossings_per_s": requests / 2 / elapsed,
        "requests_per_s": requests / elapsed,
        "p50_ms": _percentile(latencies, 0.5) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "baseline_requests_per_s": requests / bare_elapsed,
        "baseline_p50_ms": _percentile(bare_latencies, 0.5) * 1000,
        "baseline_p99_ms": _percentile(bare_latencies, 0.99) * 1000,
    }


def _fsync_floor(folder: Path) -> float:
    path = folder / "fsync.probe"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT)
    times = []
    for _ in range(200):
        started = time.perf_counter()
        os.write(descriptor, b"x" * 300)
        os.fdatasync(descriptor)
        times.append(time.perf_counter() - started)
    os.close(descriptor)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossings", type=int, default=16_000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument(
        "--only", choices=("in-process", "threads", "http"), default=None
    )
    arguments = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} ({Path(sys.executable).resolve()}), SQLite "
        f"{sqlite3.sqlite_version}"
    )
    tune_collector()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        folder = Path(scratch)
        print(f"fsync floor: {_fsync_floor(folder):.3f} ms median per fdatasync")
        runs: list[tuple[str, Callable[[Path], dict[str, float]]]] = [
            ("in-process", lambda path: bench_one_caller(path, arguments.crossings)),
            (
                "threads",
                lambda path: bench_threads(
                    path, arguments.crossings, arguments.callers
                ),
            ),
            (
                "http",
                lambda path: bench_http(path, arguments.crossings, arguments.callers),
            ),
        ]
        for name, run in runs:
            if arguments.only not in (None, name):
                continue
            target = folder / name
            target.mkdir()
            figures = run(target)
            print(
                f"{name}: "
                + ", ".join(f"{key} {value:,.3f}" for key, value in figures.items())
            )
            if "baseline_inserts_per_s" in figures:
                ratio = figures["baseline_inserts_per_s"] / figures["crossings_per_s"]
                print(f"{name}: baseline inserts per ssoar crossing {ratio:.2f}")
            if "baseline_requests_per_s" in figures:
                ratio = figures["baseline_requests_per_s"] / figures["requests_per_s"]
                print(f"{name}: baseline requests per ssoar request {ratio:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
