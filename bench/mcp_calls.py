"""How many MCP tool calls per second one Daphne process serves, and how long each one takes.

    .venv/bin/python bench/mcp_calls.py              # embedded defaults (SQLite)
    DATABASE_URL=postgres://... .venv/bin/python bench/mcp_calls.py   # ... and PostgreSQL

For each backend a child process prepares a scratch database (a SQLite file in a temporary
directory; on PostgreSQL a database named after the configured one with a ``_bench_mcp``
suffix, dropped at the end), fills a project with ready tasks and one agent per client, starts
Daphne on a free loopback port, and drives it with the SDK's own client over real HTTP: 1, 8
and 32 concurrent clients, each its own connection and agent token, in the 2026-07-28 mode
(plus one legacy-mode row). It measures ``whoami``, then ``claim_task`` followed by
``update_task`` (in_progress -> review) on a distinct ready task per cycle, for a fixed time per
row, checks in the database that every call did what it says, stops Daphne, prints a table and
rewrites its own section of docs/benchmarks.md (between the ``bench:mcp_calls`` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from report import DOC, markers, write_section  # bench/ is sys.path[0] as a script

ROOT = Path(__file__).resolve().parent.parent
START_MARKER, END_MARKER = markers("mcp_calls")

CLIENT_COUNTS = (1, 8, 32)
LEGACY_CLIENTS = 8
ROW_SECONDS = 3.0
# Ready tasks set aside per claim row; a client that runs out of its share stops early (the
# row says so), so this bounds the work and the database's size, not the measurement.
TASKS_PER_CLAIM_ROW = 1_500
PROJECT_SLUG = "bench-mcp"
CALL_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Row:
    """One measured run: ``clients`` connections calling ``tools`` in a loop for a while."""

    mode: str
    tools: str  # "whoami" or "claim_task+update_task"
    clients: int
    wall_seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    ran_out_of_tasks: int = 0


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


# The database --------------------------------------------------------------------------------


def create_database(suffix: str = "bench_mcp") -> tuple[str, dict[str, str]]:
    """Migrate a scratch database (on PostgreSQL, the configured name + ``_`` + ``suffix``);
    returns its description and the environment Daphne needs."""
    from django.core.management import call_command
    from django.db import connection

    server_env = {"PEERCODE_DATA_DIR": os.environ["PEERCODE_DATA_DIR"]}
    if connection.vendor == "sqlite":
        # The default SQLite file already lives in the temporary data directory.
        call_command("migrate", verbosity=0, interactive=False)
    else:
        settings_dict = connection.settings_dict
        scratch = f"{settings_dict['NAME']}_{suffix}"
        settings_dict.setdefault("TEST", {})["NAME"] = scratch
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
        server_env["DATABASE_URL"] = urllib.parse.urlunsplit(url._replace(path=f"/{scratch}"))
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            version = f"SQLite {cursor.fetchone()[0]}"
        else:
            cursor.execute("show server_version")
            version = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    return version, server_env


def destroy_database(original_name: str) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(original_name, verbosity=0)


def prepare_project(clients: int, claim_rows: int) -> tuple[list[str], list[list[list[str]]]]:
    """One project, one agent per client, and a disjoint share of ready tasks for each client
    of each claim row. Tasks are bulk-inserted (a benchmark fixture, not a use case); agents go
    through the service, which is the only way to get a token.

    Every agent already holds one task in progress, as a working agent does, so ``whoami``
    returns a current task.
    """
    from peercode.actors import Actor
    from projects import services
    from projects.models import Task, TaskStatus

    actor = Actor.system("bench")
    project = services.create_project(slug=PROJECT_SLUG, name="Bench MCP calls", actor=actor)
    phase = services.add_phase(project=project, name="Everything", actor=actor)
    tokens: list[str] = []
    agents = []
    for index in range(clients):
        agent, token = services.create_agent(
            project=project, name=f"bench-agent-{index:02d}", actor=actor
        )
        agents.append(agent)
        tokens.append(token)
    tasks = [
        Task(
            project=project,
            phase=phase,
            key=f"W-{index:02d}",
            title=f"Work of bench-agent-{index:02d}",
            status=TaskStatus.IN_PROGRESS,
            assignee=agent,
            file_globs=[f"src/agent{index:02d}/**"],
        )
        for index, agent in enumerate(agents)
    ]
    shares: list[list[list[str]]] = []
    for row, count in enumerate(CLIENT_COUNTS[:claim_rows]):
        keys = [f"R{row}-T{index:05d}" for index in range(TASKS_PER_CLAIM_ROW)]
        tasks.extend(
            Task(
                project=project,
                phase=phase,
                key=key,
                title=f"Bench task {key}",
                status=TaskStatus.READY,
                file_globs=[f"src/module{index % 300:03d}/*.py"],
            )
            for index, key in enumerate(keys)
        )
        shares.append([keys[client::count] for client in range(count)])
    Task.objects.bulk_create(tasks, batch_size=500)
    return tokens, shares


def check_outcome(claims: int, updates: int) -> None:
    """The figures only mean something if every call did what it says."""
    from projects.models import Task, TaskStatus

    bench = Task.objects.filter(project__slug=PROJECT_SLUG, key__startswith="R")
    in_review = bench.filter(status=TaskStatus.REVIEW).count()
    taken = bench.exclude(status=TaskStatus.READY).count()
    if (taken, in_review) != (claims, updates):
        raise SystemExit(
            f"The database disagrees with the calls: {claims} claims and {updates} updates "
            f"answered, but {taken} tasks taken and {in_review} in review."
        )


# The server ----------------------------------------------------------------------------------


def start_daphne(server_env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PEERCODE_DATA_DIR")}
    env.update(server_env)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "peercode.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Daphne exited at start:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"Daphne did not listen within {START_TIMEOUT_SECONDS:.0f} s.")


def stop_daphne(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, as a process manager would; returns how long the exit took."""
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise SystemExit(
            f"Daphne was still running {STOP_TIMEOUT_SECONDS:.0f} s after SIGTERM."
        ) from None
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), 0.0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of /proc/PID/stat; the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The clients ---------------------------------------------------------------------------------


async def run_row(
    row: Row,
    url: str,
    tokens: list[str],
    server_pid: int,
    body: Callable[[Any, int, float, Row], Awaitable[None]],
) -> Row:
    """Connect ``row.clients`` clients, warm each up with one untimed call, then run ``body``
    in every client at once until the row's time is up."""
    from contextlib import AsyncExitStack

    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async with AsyncExitStack() as stack:
        clients = []
        for token in tokens[: row.clients]:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {token}"}, timeout=CALL_TIMEOUT_SECONDS
                )
            )
            client = await stack.enter_async_context(
                Client(streamable_http_client(url, http_client=http), mode=row.mode)
            )
            warm = await client.call_tool("whoami", {})
            if warm.is_error:
                raise SystemExit(f"whoami failed before the row started: {warm.content}")
            clients.append(client)
        server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        deadline = started + ROW_SECONDS
        await asyncio.gather(
            *(body(client, index, deadline, row) for index, client in enumerate(clients))
        )
        row.wall_seconds = time.perf_counter() - started
        row.server_cpu_seconds = cpu_seconds(server_pid) - server_cpu
        row.client_cpu_seconds = time.process_time() - client_cpu
    return row


async def timed_call(client: Any, row: Row, tool: str, arguments: dict[str, Any]) -> Any:
    started = time.perf_counter()
    result = await client.call_tool(tool, arguments)
    elapsed = (time.perf_counter() - started) * 1000
    if result.is_error:
        raise SystemExit(f"{tool}({arguments}) failed: {result.content[0].text}")
    row.latencies_ms.setdefault(tool, []).append(elapsed)
    return result


async def whoami_loop(client: Any, index: int, deadline: float, row: Row) -> None:
    while time.perf_counter() < deadline:
        await timed_call(client, row, "whoami", {})


def claim_loop(shares: list[list[str]]) -> Callable[[Any, int, float, Row], Awaitable[None]]:
    async def loop(client: Any, index: int, deadline: float, row: Row) -> None:
        keys = iter(shares[index])
        while time.perf_counter() < deadline:
            key = next(keys, None)
            if key is None:
                row.ran_out_of_tasks += 1
                return
            claimed = await timed_call(client, row, "claim_task", {"key": key})
            if claimed.structured_content["status"] != "in_progress":
                raise SystemExit(f"claim_task({key}) answered {claimed.structured_content}")
            await timed_call(client, row, "update_task", {"key": key, "status": "review"})

    return loop


async def measure(
    url: str, tokens: list[str], server_pid: int, shares: list[list[list[str]]]
) -> list[Row]:
    plan: list[tuple[Row, Callable[[Any, int, float, Row], Awaitable[None]]]] = [
        (Row("2026-07-28", "whoami", count), whoami_loop) for count in CLIENT_COUNTS
    ]
    plan.append((Row("legacy", "whoami", LEGACY_CLIENTS), whoami_loop))
    plan += [
        (Row("2026-07-28", "claim_task+update_task", count), claim_loop(shares[index]))
        for index, count in enumerate(CLIENT_COUNTS)
    ]
    rows: list[Row] = []
    for row, body in plan:
        rows.append(await run_row(row, url, tokens, server_pid, body))
        calls = sum(len(samples) for samples in row.latencies_ms.values())
        print(
            f"  {row.tools} ({row.mode}), {row.clients} clients: {calls} calls "
            f"in {row.wall_seconds:.1f} s",
            file=sys.stderr,
        )
    return rows


def run_backend() -> dict[str, Any]:
    """In a child process: prepare the database, serve it with Daphne, measure, clean up."""
    setup_django()
    import logging

    from django.db import connection

    # The client logs every HTTP request at INFO; thousands of lines would bury the figures.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    original_name = connection.settings_dict["NAME"]
    version, server_env = create_database()
    stop_seconds = 0.0
    try:
        tokens, shares = prepare_project(max(CLIENT_COUNTS), len(CLIENT_COUNTS))
        connection.close()
        log = Path(os.environ["PEERCODE_DATA_DIR"]) / "daphne.log"
        process, port = start_daphne(server_env, log)
        try:
            rows = asyncio.run(measure(f"http://127.0.0.1:{port}/mcp", tokens, process.pid, shares))
        finally:
            if process.poll() is None:
                stop_seconds = stop_daphne(process)
        claims = sum(len(row.latencies_ms.get("claim_task", [])) for row in rows)
        updates = sum(len(row.latencies_ms.get("update_task", [])) for row in rows)
        check_outcome(claims, updates)
        if "Traceback" in log.read_text():
            raise SystemExit(f"Daphne logged an error:\n{log.read_text()[-3000:]}")
    finally:
        connection.close()
        destroy_database(original_name)
    return {
        "backend": version,
        "stop_seconds": stop_seconds,
        "rows": [asdict(row) for row in rows],
    }


def run_backend_child(database_url: str | None, data_dir: str) -> dict[str, Any]:
    env = dict(os.environ, PEERCODE_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="peercode.settings")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--backend-only"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"The benchmark failed on one backend (exit {completed.returncode}).")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# The report ----------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile: a latency that some call actually took."""
    ordered = sorted(samples)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def load_average() -> str:
    return ", ".join(f"{figure:.1f}" for figure in os.getloadavg())


def machine(load_at_start: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load_at_start} when the run "
        f"started, {load_average()} when it finished"
    )


def table(backends: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| backend | mode | tool | clients | calls | calls/s | p50 (ms) | p99 (ms) "
        "| Daphne CPU | client CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in backends:
        for row in backend["rows"]:
            wall = row["wall_seconds"]
            for tool, samples in row["latencies_ms"].items():
                note = " †" if row["ran_out_of_tasks"] else ""
                lines.append(
                    f"| {backend['backend']} | {row['mode']} | `{tool}` | {row['clients']} "
                    f"| {len(samples):,}{note} | {len(samples) / wall:,.0f} "
                    f"| {statistics.median(samples):.1f} | {percentile(samples, 0.99):.1f} "
                    f"| {row['server_cpu_seconds'] / wall:.0%} "
                    f"| {row['client_cpu_seconds'] / wall:.0%} |"
                )
    return lines


def section(
    backends: list[dict[str, Any]], command: str, elapsed: float, load_at_start: str
) -> str:
    lines = [
        START_MARKER,
        "## MCP tool calls (bench/mcp_calls.py)",
        "",
        "One Daphne process on a loopback port, driven over real HTTP by the SDK's own client "
        "(`mcp.client.Client`), each client with its own connection and agent token, all in "
        "one asyncio process. Each row runs its clients at once, back to back, for "
        f"{ROW_SECONDS:.0f} s after one untimed warm-up call each. `whoami` reads the agent, "
        "its project, its one task in progress and the ready count. In the "
        "`claim_task` / `update_task` rows each client repeatedly claims a ready task of its "
        "own and moves it in_progress -> review: the two rows come from one run, so its total "
        "rate is their sum. A call's latency is what the client waited, from sending the "
        "request to holding the parsed result. Daphne CPU and client CPU are the CPU time "
        "each process used over the row's wall time (100% = one core busy).",
        "",
        *table(backends),
        "",
        "Reading the figures: when Daphne CPU nears 100% (one core), the process is the "
        "ceiling. Its event loop (the MCP SDK and Twisted) and its database threads share one "
        "interpreter lock, so more clients queue instead of going faster. Each database call runs "
        "in a thread of its own, so calls do not queue behind one another's queries. The endpoint "
        "is stateless, so throughput grows with more Daphne processes behind a proxy, not with "
        "more clients per process. Each call opens two database connections, one for the token "
        "check and one for the tool: Django closes them after each use (`CONN_MAX_AGE=0`). On "
        "PostgreSQL each connection is a new server process.",
        "",
    ]
    if any(row["ran_out_of_tasks"] for backend in backends for row in backend["rows"]):
        lines += [
            f"† Some clients used up their share of {TASKS_PER_CLAIM_ROW:,} ready tasks "
            "before the row's time was up.",
            "",
        ]
    for backend in backends:
        lines.append(
            f"- {backend['backend']}: Daphne exited {backend['stop_seconds']:.1f} s after "
            "SIGTERM at the end."
        )
    lines += [
        f"- Machine: {machine(load_at_start)}.",
        f"- Command: `{command}` (whole run {elapsed:.1f} s, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}).",
        END_MARKER,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures without updating the doc"
    )
    options = parser.parse_args()
    if options.backend_only:
        print(json.dumps(run_backend()))
        return

    started = time.perf_counter()
    load_at_start = load_average()
    database_url = os.environ.get("DATABASE_URL", "").strip() or None
    backends: list[dict[str, Any]] = []
    for url in (None, database_url) if database_url else (None,):
        with tempfile.TemporaryDirectory(prefix="peercode-bench-mcp-") as data_dir:
            print("PostgreSQL:" if url else "SQLite:", file=sys.stderr)
            backends.append(run_backend_child(url, data_dir))
            print(f"{backends[-1]['backend']}: done at {time.perf_counter() - started:.1f} s")
    elapsed = time.perf_counter() - started

    command = ".venv/bin/python bench/mcp_calls.py"
    if database_url:
        command = f"DATABASE_URL=postgres://... {command}"
    text = section(backends, command, elapsed, load_at_start)
    print()
    print("\n".join(line for line in text.splitlines() if not line.startswith("<!--")))
    if not options.no_write:
        write_section("mcp_calls", text)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
