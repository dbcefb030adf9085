"""How fast a pushed delta reaches its live subscribers, against plain Redis pub/sub.

    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://... .venv/bin/python bench/fanout.py

Needs REDIS_URL; without a PostgreSQL DATABASE_URL the two servers share a SQLite file. Prepares
a scratch database (on PostgreSQL one named after the configured one with a ``_bench_fanout``
suffix, dropped at the end), one project with an agent per subscriber plus a pusher, and starts
two Daphne processes on loopback sharing it and the Redis channel layer.

For each K in 1, 10, 50, 200: K agents subscribe over WebSocket (``/ws/projects/<slug>/``),
alternately to either process, and one pusher (a child process) pushes deltas over REST through
the second process, first at a steady pace (latency), then back to back (throughput). Latency is
from the moment the pusher starts its request to the moment a subscriber has the frame; the
pusher writes the start time into the delta's body. Then the same for the floor: K Redis
pub/sub subscribers and one publisher sending messages of the same size at the same pace.
Every subscriber must receive every delta, in seq order, once; the run fails otherwise.

Prints a table and rewrites its own section of docs/benchmarks.md (between the
``bench:fanout`` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- bench:fanout -->"
END_MARKER = "<!-- /bench:fanout -->"
DOC_HEADER = (
    "# Benchmarks\n\n"
    "Figures written by the scripts under `bench/`; each script owns the section between its\n"
    "`<!-- bench:NAME -->` markers and rewrites only that section when it runs.\n"
)

SUBSCRIBER_COUNTS = (1, 10, 50, 200)
PACED_PUSHES = 50
PACE_SECONDS = 0.1  # 10 pushes a second while latency is measured
BURST_PUSHES = 60
PHASE_TIMEOUT_SECONDS = 60.0
START_TIMEOUT_SECONDS = 60.0
PROJECT_SLUG = "bench-fanout"
PUBSUB_CHANNEL = "bench-fanout-floor"
TARGET = (50, 50.0)  # p99 under 50 ms at K = 50


def setup_django() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The pusher and the publisher: child processes, so that their timing does not depend on how
# busy the subscribers keep this one. -------------------------------------------------------


def paced(count: int, pace: float) -> Any:
    """Yield 0..count-1, each at its slot on a fixed schedule (immediately when pace is 0)."""
    started = time.monotonic()
    for index in range(count):
        delay = started + index * pace - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield index


def push_child(url: str, token: str, count: int, pace: float, tag: str) -> dict[str, Any]:
    import httpx2

    durations = []
    with httpx2.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for index in paced(count, pace):
            started = time.time()
            response = http.post(
                url,
                json={
                    "kind": "discovery",
                    "summary": f"bench {tag} {index}",
                    "body": json.dumps({"t": started}),
                },
            )
            durations.append(time.time() - started)
            if response.status_code != 201:
                raise SystemExit(f"push {index} failed: {response.status_code} {response.text}")
    return {"durations": durations}


def publish_child(redis_url: str, count: int, pace: float, size: int) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    padding = "x" * size
    durations = []
    for index in paced(count, pace):
        started = time.time()
        client.publish(PUBSUB_CHANNEL, json.dumps({"seq": index + 1, "t": started, "p": padding}))
        durations.append(time.time() - started)
    return {"durations": durations}


def run_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def child_result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=PHASE_TIMEOUT_SECONDS * 2)
    if process.returncode != 0:
        raise SystemExit(f"The pusher failed (exit {process.returncode}).")
    return dict(json.loads(out.strip().splitlines()[-1]))


# Subscribers -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What every subscriber received during one phase."""

    expected: int  # messages per subscriber
    subscribers: int
    latencies: list[float] = field(default_factory=list)
    from_stored: list[float] = field(default_factory=list)  # WebSocket: since the delta's insert
    received: int = 0
    out_of_order: int = 0
    first_sent: float = float("inf")
    last_arrival: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, sent_at: float, stored_at: float | None) -> None:
        now = time.time()
        self.latencies.append((now - sent_at) * 1000)
        if stored_at is not None:
            self.from_stored.append((now - stored_at) * 1000)
        self.first_sent = min(self.first_sent, sent_at)
        self.received += 1
        self.last_arrival = now
        if self.received == self.expected * self.subscribers:
            self.done.set()


class Subscriber:
    """Feeds each message to the current phase; checks they come in seq order, once each."""

    def __init__(self) -> None:
        self.phase: Phase | None = None
        self.last_seq = 0

    def deliver(self, seq: int, sent_at: float, stored_at: float | None = None) -> None:
        if seq != self.last_seq + 1 and self.phase is not None:
            self.phase.out_of_order += 1
        self.last_seq = seq
        if self.phase is not None:
            self.phase.record(sent_at, stored_at)


async def websocket_subscriber(url: str, token: str, origin: str, subscriber: Subscriber) -> Any:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        origin=Origin(origin),
        compression=None,
        max_queue=None,
        open_timeout=START_TIMEOUT_SECONDS,
    )
    while (frame := json.loads(await ws.recv()))["type"] == "delta":
        pass
    if frame["type"] != "replay_done":
        raise SystemExit(f"unexpected frame while subscribing: {frame}")
    subscriber.last_seq = frame["head"]

    async def listen() -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "delta":
                delta = frame["delta"]
                subscriber.deliver(
                    delta["seq"],
                    json.loads(delta["body"])["t"],
                    datetime.fromisoformat(delta["created_at"]).timestamp(),
                )

    return ws, asyncio.ensure_future(listen())


async def pubsub_subscriber(redis_url: str, subscriber: Subscriber) -> Any:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(PUBSUB_CHANNEL)

    async def listen() -> None:
        async for message in pubsub.listen():
            body = json.loads(message["data"])
            subscriber.deliver(body["seq"], body["t"])

    return client, asyncio.ensure_future(listen())


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux), 0.0 where /proc is unavailable."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of /proc/PID/stat; the split starts at field 3.
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run_phase(
    subscribers: list[Subscriber], expected: int, start_pusher: Any, servers: list[int]
) -> dict[str, Any]:
    """Start the pusher, wait until every subscriber has every message, and sum it up;
    ``servers`` are the pids whose CPU time the phase is charged with."""
    phase = Phase(expected=expected, subscribers=len(subscribers))
    for subscriber in subscribers:
        subscriber.phase = phase
    cpu_before = cpu_seconds(servers)
    pusher = start_pusher()
    try:
        await asyncio.wait_for(phase.done.wait(), PHASE_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        pusher.kill()
        raise SystemExit(
            f"Only {phase.received} of {expected * len(subscribers)} messages arrived within "
            f"{PHASE_TIMEOUT_SECONDS:.0f} s."
        ) from exc
    cpu = cpu_seconds(servers) - cpu_before
    pushed = await asyncio.to_thread(child_result, pusher)
    if phase.out_of_order:
        raise SystemExit(f"{phase.out_of_order} messages arrived out of seq order or twice.")
    return {
        "p50_ms": percentile(phase.latencies, 0.50),
        "p99_ms": percentile(phase.latencies, 0.99),
        "max_ms": max(phase.latencies),
        "stored_p50_ms": percentile(phase.from_stored, 0.50) if phase.from_stored else None,
        "stored_p99_ms": percentile(phase.from_stored, 0.99) if phase.from_stored else None,
        "deliveries_per_s": phase.received / (phase.last_arrival - phase.first_sent),
        "push_p50_ms": statistics.median(pushed["durations"]) * 1000,
        "server_cpu_us": cpu / phase.received * 1e6 if servers else None,
    }


async def measure_websocket(
    servers: list[tuple[int, int]], tokens: list[str], pusher_token: str, count: int
) -> dict[str, Any]:
    """``servers``: (pid, port) of each Daphne process."""
    pids = [pid for pid, _ in servers]
    subscribers = [Subscriber() for _ in range(count)]
    connections = []
    for index, subscriber in enumerate(subscribers):
        port = servers[index % len(servers)][1]
        url = f"ws://127.0.0.1:{port}/ws/projects/{PROJECT_SLUG}/"
        connections.append(
            await websocket_subscriber(url, tokens[index], f"http://127.0.0.1:{port}", subscriber)
        )
    push_url = f"http://127.0.0.1:{servers[-1][1]}/api/v1/projects/{PROJECT_SLUG}/deltas/"

    def pusher(pushes: int, pace: float, tag: str) -> Any:
        return lambda: run_child("--push", push_url, pusher_token, str(pushes), str(pace), tag)

    try:
        paced_figures = await run_phase(
            subscribers, PACED_PUSHES, pusher(PACED_PUSHES, PACE_SECONDS, f"k{count}-paced"), pids
        )
        burst_figures = await run_phase(
            subscribers, BURST_PUSHES, pusher(BURST_PUSHES, 0.0, f"k{count}-burst"), pids
        )
    finally:
        for ws, listener in connections:
            listener.cancel()
            await ws.close()
    return {"paced": paced_figures, "burst": burst_figures}


async def measure_pubsub(redis_url: str, count: int, size: int) -> dict[str, Any]:
    import redis.asyncio

    subscribers = [Subscriber() for _ in range(count)]
    connections = [await pubsub_subscriber(redis_url, subscriber) for subscriber in subscribers]
    admin = redis.asyncio.Redis.from_url(redis_url)
    while (await admin.pubsub_numsub(PUBSUB_CHANNEL))[0][1] < count:
        await asyncio.sleep(0.05)

    def publisher(messages: int, pace: float) -> Any:
        return lambda: run_child("--publish", redis_url, str(messages), str(pace), str(size))

    try:
        paced_figures = await run_phase(
            subscribers, PACED_PUSHES, publisher(PACED_PUSHES, PACE_SECONDS), []
        )
        for subscriber in subscribers:
            subscriber.last_seq = 0  # the publisher numbers each phase from 1
        burst_figures = await run_phase(subscribers, BURST_PUSHES, publisher(BURST_PUSHES, 0.0), [])
    finally:
        for client, listener in connections:
            listener.cancel()
            await client.aclose()
        await admin.aclose()
    return {"paced": paced_figures, "burst": burst_figures}


# The servers and their database ------------------------------------------------------------


def create_database() -> tuple[str, dict[str, str]]:
    """Migrate a scratch database; returns its description and the environment Daphne needs."""
    from django.db import connection

    server_env = {"PEERCODE_DATA_DIR": os.environ["PEERCODE_DATA_DIR"]}
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        # The file the servers open by default in the temporary data directory.
        settings_dict.setdefault("TEST", {})["NAME"] = str(settings_dict["NAME"])
    else:
        scratch = f"{settings_dict['NAME']}_bench_fanout"
        settings_dict.setdefault("TEST", {})["NAME"] = scratch
        url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
        server_env["DATABASE_URL"] = urllib.parse.urlunsplit(url._replace(path=f"/{scratch}"))
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            version = f"SQLite {cursor.fetchone()[0]}"
        else:
            cursor.execute("show server_version")
            version = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    return version, server_env


def prepare_project(subscribers: int) -> tuple[list[str], str]:
    """One project, an agent per subscriber, and the pusher; tokens come from the service."""
    from peercode.actors import Actor
    from projects import services

    actor = Actor.system("bench")
    project = services.create_project(slug=PROJECT_SLUG, name="Bench fan-out", actor=actor)
    tokens = [
        services.create_agent(project=project, name=f"listener-{index:03d}", actor=actor)[1]
        for index in range(subscribers)
    ]
    _, pusher = services.create_agent(project=project, name="pusher", actor=actor)
    return tokens, pusher


def start_daphne(server_env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PEERCODE_DATA_DIR")}
    env.update(server_env)
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*command, "peercode.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"Daphne exited:\n{log.read_text()}") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"Daphne did not listen within {START_TIMEOUT_SECONDS:.0f} s")


def stop_daphne(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def delta_frame_size() -> int:
    """Roughly how many bytes a delta frame carries, so the floor's messages match it."""
    sample = {
        "type": "delta",
        "delta": {
            "seq": 1,
            "kind": "discovery",
            "significance": "normal",
            "summary": "bench k200-burst 99",
            "body": json.dumps({"t": time.time()}),
            "author": "agent:pusher",
            "tasks": [],
            "contracts": [],
            "paths": [],
            "contract_version": None,
            "proposed_spec": None,
            "folded": 0,
            "created_at": "2026-01-01T00:00:00.000000+00:00",
            "relevant": False,
            "breaking_for_you": False,
        },
    }
    return len(json.dumps(sample))


async def measure_all(
    servers: list[tuple[int, int]],
    tokens: list[str],
    pusher: str,
    redis_url: str,
    counts: tuple[int, ...],
) -> list[dict[str, Any]]:
    size = delta_frame_size()
    rows = []
    for count in counts:
        websocket = await measure_websocket(servers, tokens, pusher, count)
        floor = await measure_pubsub(redis_url, count, size)
        rows.append({"subscribers": count, "websocket": websocket, "pubsub": floor})
        print(
            f"K={count:>3}: WebSocket p50 {websocket['paced']['p50_ms']:.1f} ms, p99 "
            f"{websocket['paced']['p99_ms']:.1f} ms (from stored "
            f"{websocket['paced']['stored_p99_ms']:.1f} ms), "
            f"{websocket['burst']['deliveries_per_s']:,.0f}"
            f" deliveries/s | Redis pub/sub p50 {floor['paced']['p50_ms']:.2f} ms, p99 "
            f"{floor['paced']['p99_ms']:.2f} ms, {floor['burst']['deliveries_per_s']:,.0f}/s",
            flush=True,
        )
    return rows


# The report --------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load} when it finished"
    )


def table(rows: list[dict[str, Any]]) -> list[str]:
    def pair(first: float | None, second: float | None, digits: int) -> str:
        if first is None or second is None:
            return "-"
        return f"{first:.{digits}f} / {second:.{digits}f}"

    lines = [
        "| K | path | p50 (ms) | p99 (ms) | max (ms) | from stored: p50 / p99 (ms) "
        "| deliveries/s | under load: p50 / p99 (ms) | server CPU per delivery (µs) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        for path, name in (("websocket", "WebSocket, 2 Daphnes"), ("pubsub", "Redis pub/sub")):
            paced, burst = row[path]["paced"], row[path]["burst"]
            cpu = burst["server_cpu_us"]
            lines.append(
                f"| {row['subscribers']} | {name} | {paced['p50_ms']:.1f} | "
                f"{paced['p99_ms']:.1f} | {paced['max_ms']:.1f} | "
                f"{pair(paced['stored_p50_ms'], paced['stored_p99_ms'], 1)} | "
                f"{burst['deliveries_per_s']:,.0f} | "
                f"{pair(burst['p50_ms'], burst['p99_ms'], 0)} | "
                f"{f'{cpu:,.0f}' if cpu else '-'} |"
            )
    return lines


def section(
    rows: list[dict[str, Any]],
    backend: str,
    layer: str,
    redis_version: str,
    command: str,
    elapsed: float,
) -> str:
    target_row = next((row for row in rows if row["subscribers"] == TARGET[0]), None)
    verdict = ""
    if target_row is not None:
        paced = target_row["websocket"]["paced"]
        met = "met" if paced["p99_ms"] < TARGET[1] else "missed"
        verdict = (
            f"Target (p99 under {TARGET[1]:.0f} ms at K = {TARGET[0]}): **{met}**, "
            f"{paced['p99_ms']:.1f} ms from the start of the push ({paced['stored_p99_ms']:.1f} "
            "ms from the insert)."
        )
    push_p50 = statistics.median(row["websocket"]["paced"]["push_p50_ms"] for row in rows)
    lines = [
        START_MARKER,
        "## Live delta fan-out (bench/fanout.py)",
        "",
        "One pusher, K agents subscribed over WebSocket to `/ws/projects/<slug>/`, alternately on "
        f"two Daphne processes sharing {backend} and the Redis channel layer (`{layer}`, Redis "
        f"{redis_version}); the pusher pushes over REST through the second process. Latency is "
        "from the start of the push request to the subscriber having the frame, so it includes "
        f"the push itself (its REST round trip has a median of {push_p50:.1f} ms: the "
        "transaction that numbers and stores the delta, then the broadcast after commit). "
        "The floor is plain Redis pub/sub: K subscribers, one connection each, and one publisher "
        "sending messages of the same size.",
        "",
        f"Latency (p50, p99, max): {PACED_PUSHES} pushes at {1 / PACE_SECONDS:.0f} a second, so "
        f"K x {PACED_PUSHES} samples. Deliveries/s: {BURST_PUSHES} pushes back to back, "
        "messages received by all subscribers divided by the time from the first push to the "
        "last arrival (with one pusher, small K measures the pusher more than the fan-out); "
        "'From stored' starts the clock at the delta's insert (its created_at), inside the "
        "push's transaction, so it leaves out the REST request around it. "
        "'Under load' is the latency during that burst, and 'server CPU per delivery' the CPU "
        "time both Daphne processes spent in it (serving the pushes too) per message "
        "delivered. Every subscriber received every delta once, in seq order. Subscribers, "
        "pusher, servers, Redis and the database share the machine.",
        "",
        *table(rows),
        "",
    ]
    if verdict:
        lines += [verdict, ""]
    lines += [
        f"- Machine: {machine()}.",
        f"- Command: `{command}` (whole run {elapsed:.1f} s, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}).",
        END_MARKER,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = DOC.read_text() if DOC.exists() else DOC_HEADER
    start, end = current.find(START_MARKER), current.find(END_MARKER)
    if start >= 0 and end > start:
        updated = current[:start] + text + current[end + len(END_MARKER) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--push", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--publish", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--subscribers",
        default=",".join(str(count) for count in SUBSCRIBER_COUNTS),
        help="comma-separated values of K (default: %(default)s)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures without updating the doc"
    )
    options = parser.parse_args()
    if options.push:
        url, token, count, pace, tag = options.push
        print(json.dumps(push_child(url, token, int(count), float(pace), tag)))
        return
    if options.publish:
        redis_url, count, pace, size = options.publish
        print(json.dumps(publish_child(redis_url, int(count), float(pace), int(size))))
        return

    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not redis_url:
        raise SystemExit("Set REDIS_URL (e.g. redis://127.0.0.1:6379/0): fan-out goes through it.")
    counts = tuple(int(value) for value in options.subscribers.split(","))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="peercode-bench-fanout-") as data_dir:
        os.environ["PEERCODE_DATA_DIR"] = data_dir
        if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            os.environ.pop("DATABASE_URL", None)
        setup_django()
        import redis
        from django.conf import settings
        from django.db import connection

        original_name = connection.settings_dict["NAME"]
        backend, server_env = create_database()
        servers: list[tuple[subprocess.Popen[bytes], int]] = []
        try:
            tokens, pusher = prepare_project(max(counts))
            connection.close()
            print(f"{backend}: {max(counts)} agents ready at {time.perf_counter() - started:.1f} s")
            for name in ("a", "b"):
                servers.append(start_daphne(server_env, Path(data_dir) / f"daphne-{name}.log"))
            print(f"two Daphne processes listening at {time.perf_counter() - started:.1f} s")
            rows = asyncio.run(
                measure_all(
                    [(process.pid, port) for process, port in servers],
                    tokens,
                    pusher,
                    redis_url,
                    counts,
                )
            )
            redis_version = redis.Redis.from_url(redis_url).info("server")["redis_version"]
            layer = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
        finally:
            for process, _ in servers:
                stop_daphne(process)
            if connection.vendor != "sqlite":
                connection.creation.destroy_test_db(original_name, verbosity=0)
        for name in ("a", "b"):
            log = (Path(data_dir) / f"daphne-{name}.log").read_text()
            if "Traceback" in log:
                raise SystemExit(f"Daphne {name} logged an error; the figures are void:\n{log}")
    elapsed = time.perf_counter() - started

    command = "REDIS_URL=redis://... .venv/bin/python bench/fanout.py"
    if connection.vendor != "sqlite":
        command = f"DATABASE_URL=postgres://... {command}"
    text = section(rows, backend, layer, redis_version, command, elapsed)
    print()
    print("\n".join(line for line in text.splitlines() if not line.startswith("<!--")))
    if not options.no_write:
        write_section(text)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
