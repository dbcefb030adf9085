"""How many lock acquire+release pairs per second PeerCode serves, and how long each pair takes.

    .venv/bin/python bench/locks.py                                # SQLite
    DATABASE_URL=postgres://... .venv/bin/python bench/locks.py    # PostgreSQL

One database per run, chosen as the server chooses it: PostgreSQL when DATABASE_URL is set,
SQLite otherwise. A child process prepares a scratch database (a SQLite file in a temporary
directory, under PEERCODE_DATA_DIR when that is set; on PostgreSQL a database named after the
configured one with a ``_bench_locks`` suffix, dropped at the end) and one project with one
agent per concurrent caller, each with its own token. It measures acquire_lock followed by
release_lock at 1, 8 and 32 concurrent agents, for a fixed time per row, in two workloads:

- *own files*: each agent locks whole files of its own (exclusive), so no request conflicts;
- *4 ranges of one file*: every agent locks one of four overlapping line ranges of the same
  file (exclusive, ``wait=false``) and, when refused, counts the refusal and tries again at
  once with another range;

first through the services (one thread per agent in this process, calling
``locks.services.acquire_lock`` and ``release_lock``), then through MCP (one Daphne process on
a loopback port, driven over real HTTP by the SDK's own client, one connection per agent). It
checks in the database that every answer was true, stops Daphne, prints a table and rewrites
this database's rows of its section of docs/benchmarks.md (between the ``bench:locks``
markers), keeping the rows another run wrote for the other database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] as a script: the Daphne and timing helpers are mcp_calls.py's own.
from mcp_calls import (
    cpu_seconds,
    create_database,
    destroy_database,
    load_average,
    machine,
    percentile,
    start_daphne,
    stop_daphne,
)
from report import DOC, markers, write_section

ROOT = Path(__file__).resolve().parent.parent
START_MARKER, END_MARKER = markers("locks")

AGENT_COUNTS = (1, 8, 32)
SERVICE_ROW_SECONDS = 8.0
MCP_ROW_SECONDS = 12.0
PROJECT_SLUG = "bench-locks"
OWN_FILES = 10  # each agent cycles over this many files of its own
HOT_FILE = "src/shared/hot.py"
# Four 40-line ranges, each overlapping its neighbours by half: a lock on one of them conflicts
# with a lock on the same range or on either neighbour.
HOT_RANGES = ((1, 40), (21, 60), (41, 80), (61, 100))
OWN_FILES_WORKLOAD = "own files"
HOT_WORKLOAD = f"{len(HOT_RANGES)} ranges of one file"
WORKLOADS = (OWN_FILES_WORKLOAD, HOT_WORKLOAD)
SEED = 20261125
CALL_TIMEOUT_SECONDS = 60.0


@dataclass
class Row:
    """One measured run: ``agents`` callers acquiring and releasing locks for a while."""

    through: str  # "service" or "MCP"
    workload: str
    agents: int
    wall_seconds: float = 0.0
    pair_ms: list[float] = field(default_factory=list)  # granted: acquire + release
    refusal_ms: list[float] = field(default_factory=list)  # refused acquires
    server_cpu_seconds: float | None = None  # Daphne's, MCP rows only
    bench_cpu_seconds: float = 0.0  # this process: the threads, or the MCP clients
    warm_up_pairs: int = 0


def setup_django() -> None:
    # ROOT must come before bench/ (sys.path[0]) or ``import locks`` would find this script
    # instead of the app.
    sys.path[:] = [str(ROOT)] + [entry for entry in sys.path if entry != str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django

    django.setup()


def lock_request(workload: str, agent: int, attempt: int, rng: random.Random) -> dict[str, Any]:
    """What agent number ``agent`` asks for on its ``attempt``-th try (the acquire_lock
    arguments common to the service and the MCP tool)."""
    if workload == OWN_FILES_WORKLOAD:
        return {"path": f"src/agent{agent:02d}/module{attempt % OWN_FILES}.py", "scope": "file"}
    start_line, end_line = rng.choice(HOT_RANGES)
    return {"path": HOT_FILE, "scope": "lines", "start_line": start_line, "end_line": end_line}


# The database --------------------------------------------------------------------------------


def prepare_project(agents: int) -> list[str]:
    """One project and ``agents`` agents, through the services (the only way to get a token);
    returns their tokens, in order."""
    from peercode.actors import Actor
    from projects import services

    actor = Actor.system("bench")
    project = services.create_project(slug=PROJECT_SLUG, name="Bench locks", actor=actor)
    return [
        services.create_agent(project=project, name=f"bench-agent-{index:02d}", actor=actor)[1]
        for index in range(agents)
    ]


def queries_per_pair() -> int:
    """How many SQL statements one uncontended acquire + release runs, once the project's
    lock counter exists (two more pairs, which :func:`check_outcome` counts)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from locks.services import acquire_lock, release_lock
    from peercode.actors import Actor
    from projects.models import Agent

    agent = Agent.objects.select_related("project").get(
        project__slug=PROJECT_SLUG, name="bench-agent-00"
    )
    actor = Actor.for_agent(agent)
    for _ in range(2):  # the first pair also creates the counter row
        with CaptureQueriesContext(connection) as queries:
            result = acquire_lock(agent=agent, path="src/agent00/counted.py")
            release_lock(actor=actor, lock_id=result.lock.pk)
    return len(queries.captured_queries)


def check_outcome(rows: list[Row], extra_pairs: int) -> None:
    """The figures only mean something if every answer was true: every pair counted left one
    released lock, every refusal one ``lock.refused`` event, nothing is still held, and every
    grant got a fencing token of its own."""
    from locks.models import Lock, LockStatus
    from peercode.events.models import Event

    pairs = extra_pairs + sum(len(row.pair_ms) + row.warm_up_pairs for row in rows)
    refusals = sum(len(row.refusal_ms) for row in rows)
    locks = Lock.objects.filter(project__slug=PROJECT_SLUG)
    released = locks.filter(status=LockStatus.RELEASED).count()
    other = locks.exclude(status=LockStatus.RELEASED).count()
    tokens = locks.values("fencing_token").distinct().count()
    refused = Event.objects.filter(project__slug=PROJECT_SLUG, type="lock.refused").count()
    if (released, other, tokens, refused) != (pairs, 0, pairs, refusals):
        raise SystemExit(
            f"The database disagrees with the answers: {pairs} pairs and {refusals} refusals "
            f"answered, but {released} locks released, {other} in another state, {tokens} "
            f"distinct fencing tokens and {refused} lock.refused events."
        )


# Through the services --------------------------------------------------------------------------


def service_row(row: Row) -> Row:
    """One thread per agent, each with its own database connection (closed at its end): an
    untimed warm-up pair on a file of its own, then pairs back to back until the row's time is
    up. The clock starts when every thread has warmed up."""
    from django.db import connection

    from locks.services import LockConflict, acquire_lock, release_lock
    from peercode.actors import Actor
    from projects.models import Agent

    agents = list(
        Agent.objects.filter(project__slug=PROJECT_SLUG).select_related("project").order_by("name")
    )[: row.agents]
    connection.close()
    clock = {"cpu": 0.0, "started": 0.0, "deadline": 0.0}

    def start_clock() -> None:
        # The barrier's action runs before any thread is let through, so none reads a stale
        # deadline.
        clock["cpu"], clock["started"] = time.process_time(), time.perf_counter()
        clock["deadline"] = clock["started"] + SERVICE_ROW_SECONDS

    ready = threading.Barrier(row.agents + 1, action=start_clock)
    failures: list[BaseException] = []

    def pair(agent: Agent, actor: Actor, request: dict[str, Any]) -> bool:
        try:
            result = acquire_lock(agent=agent, **request)
        except LockConflict:
            return False
        release_lock(actor=actor, lock_id=result.lock.pk)
        return True

    def work(index: int) -> None:
        agent, rng = agents[index], random.Random(SEED + index)
        actor = Actor.for_agent(agent)
        try:
            pair(agent, actor, lock_request(OWN_FILES_WORKLOAD, index, -1, rng))
            ready.wait()
            attempt = 0
            while time.perf_counter() < clock["deadline"]:
                started = time.perf_counter()
                granted = pair(agent, actor, lock_request(row.workload, index, attempt, rng))
                elapsed = (time.perf_counter() - started) * 1000
                (row.pair_ms if granted else row.refusal_ms).append(elapsed)
                attempt += 1
        except BaseException as exc:
            failures.append(exc)
            ready.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(row.agents)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed: see below
        ready.wait()
    for thread in threads:
        thread.join()
    row.wall_seconds = time.perf_counter() - clock["started"]
    row.bench_cpu_seconds = time.process_time() - clock["cpu"]
    row.warm_up_pairs = row.agents
    if failures:
        raise SystemExit(f"A service call failed: {failures[0]!r}") from failures[0]
    return row


# Through MCP -----------------------------------------------------------------------------------


class Refused(Exception):
    """acquire_lock answered lock_conflict."""


async def mcp_pair(client: Any, request: dict[str, Any]) -> None:
    acquired = await client.call_tool("acquire_lock", request)
    if acquired.is_error:
        text = acquired.content[0].text
        if text.endswith("[lock_conflict]"):
            raise Refused(text)
        raise SystemExit(f"acquire_lock({request}) failed: {text}")
    answer = acquired.structured_content
    if not answer["granted"]:
        raise SystemExit(f"acquire_lock({request}) queued without wait=true: {answer}")
    released = await client.call_tool("release_lock", {"lock_id": answer["lock"]["id"]})
    if released.is_error or released.structured_content["status"] != "released":
        raise SystemExit(f"release_lock({answer['lock']['id']}) failed: {released.content}")


async def mcp_row(row: Row, url: str, tokens: list[str], server_pid: int) -> Row:
    """Connect ``row.agents`` clients, warm each up with one untimed pair on a file of its own,
    then run them all at once until the row's time is up."""
    from contextlib import AsyncExitStack

    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async def work(client: Any, index: int, deadline: float) -> None:
        rng = random.Random(SEED + index)
        attempt = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await mcp_pair(client, lock_request(row.workload, index, attempt, rng))
                row.pair_ms.append((time.perf_counter() - started) * 1000)
            except Refused:
                row.refusal_ms.append((time.perf_counter() - started) * 1000)
            attempt += 1

    async with AsyncExitStack() as stack:
        clients = []
        for index, token in enumerate(tokens[: row.agents]):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {token}"}, timeout=CALL_TIMEOUT_SECONDS
                )
            )
            client = await stack.enter_async_context(
                Client(streamable_http_client(url, http_client=http), mode="2026-07-28")
            )
            await mcp_pair(client, lock_request(OWN_FILES_WORKLOAD, index, -1, random.Random()))
            row.warm_up_pairs += 1
            clients.append(client)
        server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        deadline = started + MCP_ROW_SECONDS
        await asyncio.gather(
            *(work(client, index, deadline) for index, client in enumerate(clients))
        )
        row.wall_seconds = time.perf_counter() - started
        row.server_cpu_seconds = cpu_seconds(server_pid) - server_cpu
        row.bench_cpu_seconds = time.process_time() - client_cpu
    return row


def progress(row: Row) -> None:
    refused = f", {len(row.refusal_ms)} refused" if row.refusal_ms else ""
    print(
        f"  {row.through}, {row.workload}, {row.agents} agents: {len(row.pair_ms)} pairs"
        f"{refused} in {row.wall_seconds:.1f} s",
        file=sys.stderr,
    )


async def measure_mcp(url: str, tokens: list[str], server_pid: int) -> list[Row]:
    rows: list[Row] = []
    for workload in WORKLOADS:
        for count in AGENT_COUNTS:
            rows.append(await mcp_row(Row("MCP", workload, count), url, tokens, server_pid))
            progress(rows[-1])
    return rows


def run_backend() -> dict[str, Any]:
    """In a child process: prepare the database, measure through the services, serve it with
    Daphne, measure through MCP, check, clean up."""
    setup_django()
    import logging

    from django.db import connection

    # The client logs every HTTP request at INFO; thousands of lines would bury the figures.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    original_name = connection.settings_dict["NAME"]
    version, server_env = create_database("bench_locks")
    print(f"{version}:", file=sys.stderr)
    stop_seconds = 0.0
    rows: list[Row] = []
    try:
        tokens = prepare_project(max(AGENT_COUNTS))
        queries = queries_per_pair()
        for workload in WORKLOADS:
            for count in AGENT_COUNTS:
                rows.append(service_row(Row("service", workload, count)))
                progress(rows[-1])
        connection.close()
        log = Path(os.environ["PEERCODE_DATA_DIR"]) / "daphne.log"
        process, port = start_daphne(server_env, log)
        try:
            rows += asyncio.run(measure_mcp(f"http://127.0.0.1:{port}/mcp", tokens, process.pid))
        finally:
            if process.poll() is None:
                stop_seconds = stop_daphne(process)
        check_outcome(rows, extra_pairs=2)
        if "Traceback" in log.read_text():
            raise SystemExit(f"Daphne logged an error:\n{log.read_text()[-3000:]}")
    finally:
        connection.close()
        destroy_database(original_name)
    return {
        "backend": version,
        "stop_seconds": stop_seconds,
        "queries_per_pair": queries,
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
        raise SystemExit(f"The benchmark failed (exit {completed.returncode}).")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# The report ----------------------------------------------------------------------------------


def family(backend: str) -> str:
    """'SQLite' or 'PostgreSQL': what a row or note of the section belongs to."""
    return backend.split()[0]


def table_rows(backend: dict[str, Any]) -> list[str]:
    lines = []
    for row in backend["rows"]:
        wall, pairs, refusals = row["wall_seconds"], row["pair_ms"], row["refusal_ms"]
        attempts = len(pairs) + len(refusals)
        refused = f"{len(refusals):,} ({len(refusals) / attempts:.0%})" if refusals else "0"
        refusal_p50 = f"{statistics.median(refusals):.1f}" if refusals else "-"
        server_cpu = row["server_cpu_seconds"]
        lines.append(
            f"| {backend['backend']} | {row['through']} | {row['workload']} | {row['agents']} "
            f"| {len(pairs):,} | {len(pairs) / wall:,.0f} "
            f"| {statistics.median(pairs):.1f} | {percentile(pairs, 0.99):.1f} "
            f"| {refused} | {refusal_p50} "
            f"| {'-' if server_cpu is None else f'{server_cpu / wall:.0%}'} "
            f"| {row['bench_cpu_seconds'] / wall:.0%} |"
        )
    return lines


def kept_lines(measured: str) -> tuple[list[str], list[str]]:
    """The table rows and notes the current section holds for the other database, so that a
    run on one database leaves the other's figures in place."""
    current = DOC.read_text() if DOC.exists() else ""
    start, end = current.find(START_MARKER), current.find(END_MARKER)
    if start < 0 or end < start:
        return [], []
    rows, notes = [], []
    for line in current[start:end].splitlines():
        for other in ("SQLite", "PostgreSQL"):
            if other == measured:
                continue
            if line.startswith(f"| {other} "):
                rows.append(line)
            elif line.startswith(f"- {other} "):
                notes.append(line)
    return rows, notes


def section(backend: dict[str, Any], note: str) -> str:
    """The whole section: this run's rows and note, and the other database's as they were,
    SQLite first."""
    measured = family(backend["backend"])
    other_rows, other_notes = kept_lines(measured)
    rows, notes = table_rows(backend), [note]
    if measured == "SQLite":
        rows, notes = rows + other_rows, notes + other_notes
    else:
        rows, notes = other_rows + rows, other_notes + notes
    lines = [
        START_MARKER,
        "## Locks: acquire + release (bench/locks.py)",
        "",
        "One project; each agent is its own agent with its own token, and each pair is "
        "`acquire_lock` (exclusive, `wait=false`, the project's default TTL) followed, when "
        "granted, by `release_lock` of that lock. In the *own files* rows every agent locks "
        f"whole files of its own ({OWN_FILES} in turn), so no request ever conflicts. In the "
        f"*{HOT_WORKLOAD}* rows every agent locks one of the line ranges "
        + ", ".join(f"{start}-{end}" for start, end in HOT_RANGES)
        + f" of `{HOT_FILE}`, chosen at random (each overlaps its neighbours), and a refused "
        "agent counts the refusal and tries again at once with another range; a refusal is "
        "answered after the transaction that records its `lock.refused` event commits. "
        "*service* rows run one thread per agent in one Python process, calling "
        "`locks.services.acquire_lock` and `release_lock` directly (each thread keeps one "
        "database connection for the row and closes it at the end), for "
        f"{SERVICE_ROW_SECONDS:.0f} s per row. *MCP* rows drive one Daphne process on a "
        "loopback port over real HTTP with the SDK's own client (`mcp.client.Client`, "
        "2026-07-28 mode), one connection per agent, all in one asyncio process, for "
        f"{MCP_ROW_SECONDS:.0f} s per row: a pair is two tool calls. Every agent makes one "
        "untimed warm-up pair first. A pair's latency is from asking for the lock to holding "
        "the release's answer; pairs/s counts granted pairs only. 'refused' is the number "
        "(and share of attempts) of refusals, 'refusal p50' how long one took. Daphne CPU and "
        "bench CPU are the CPU time the server and the measuring process (its threads, or its "
        "MCP clients) used over the row's wall time (100% = one core busy). After each run "
        "the database is checked: every pair left one released lock with a fencing token of "
        "its own, every refusal one `lock.refused` event, and nothing is still held.",
        "",
        "| backend | through | workload | agents | pairs | pairs/s | p50 (ms) | p99 (ms) "
        "| refused | refusal p50 (ms) | Daphne CPU | bench CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Reading the figures: a pair is two transactions, and each first locks the project's "
        "`LockSpace` row (on SQLite, an IMMEDIATE transaction holds the whole database's write "
        "lock), then settles leases that ran out and the waiting line, checks for conflicts, "
        "takes the next fencing token and records its event. So the requests of one project "
        "are served one at a time whatever their paths: more agents wait for one another "
        "instead of going faster, on distinct files as on one file, and the ceiling is one "
        "transaction at a time per project, most of it Python (the ORM) rather than the "
        "database. How the waiting is shared out differs: on SQLite a transaction that finds "
        "the write lock taken sleeps and retries (SQLite's busy handler, up to the 30 s "
        "timeout), so who goes next is luck, and p50 stays low while p99 "
        "grows to seconds; on PostgreSQL waiters queue on the row lock and are served in turn, "
        "so p50 and p99 grow together. A refusal is one transaction (it records "
        "`lock.refused`), about half a pair, and holds nothing. With fewer than 100 pairs in a "
        "row, p99 is its slowest pair. Through MCP each tool call also pays for the endpoint "
        "(see the MCP tool calls section), and Daphne's one interpreter is the ceiling.",
        "",
        *notes,
        END_MARKER,
    ]
    return "\n".join(lines)


def backend_note(backend: dict[str, Any], command: str, elapsed: float, load: str) -> str:
    samples = [len(row["pair_ms"]) for row in backend["rows"]]
    return (
        f"- {backend['backend']}: {min(samples):,} to {max(samples):,} pairs per row; one "
        f"uncontended pair runs {backend['queries_per_pair']} SQL statements; Daphne "
        f"exited {backend['stop_seconds']:.1f} s after SIGTERM at the end. Machine: "
        f"{machine(load)}. Command: `{command}` (whole run {elapsed:.1f} s, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())})."
    )


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
    # The scratch SQLite file goes in a directory of its own, under PEERCODE_DATA_DIR when set.
    parent = os.environ.get("PEERCODE_DATA_DIR", "").strip() or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peercode-bench-locks-", dir=parent) as data_dir:
        backend = run_backend_child(database_url, data_dir)
    elapsed = time.perf_counter() - started
    print(f"{backend['backend']}: done at {elapsed:.1f} s", file=sys.stderr)

    command = ".venv/bin/python bench/locks.py"
    if database_url:
        command = f"DATABASE_URL=postgres://... {command}"
    text = section(backend, backend_note(backend, command, elapsed, load_at_start))
    print()
    print("\n".join(line for line in text.splitlines() if not line.startswith("<!--")))
    if not options.no_write:
        write_section("locks", text)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
