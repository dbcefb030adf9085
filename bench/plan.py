"""How fast the server computes a plan's shape: waves, critical path and colliding globs.

    .venv/bin/python bench/plan.py              # in memory, then through a temporary SQLite DB
    DATABASE_URL=postgres://... .venv/bin/python bench/plan.py   # ... and through PostgreSQL

Builds a synthetic 5,000-task plan (phases, a random DAG with 1-3 dependencies per task, 2-4
file globs per task across 300 module directories, some of them '**' globs), times each
computation several times and reports the minimum and the median, prints a table, and
rewrites its own section of docs/benchmarks.md (between the ``bench:plan`` markers).

Adversarial plans too: that plan with one task holding the globs of the issue that brought
the limits (stored before them), or the costliest globs an agent may now set; and plans built
to spend everything one analysis may do (docs/limits.md, "Plan globs"). These are timed with
nothing memoised. Through the database, the first plan read after a change is timed apart
from a later one, which the cache serves.

The database figures come from a child process per backend, each with its own settings: a
throwaway SQLite file in a temporary directory, and on PostgreSQL a scratch database named
after the configured one with a ``_bench_plan`` suffix, dropped at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from report import DOC, markers, write_section  # bench/ is sys.path[0] as a script

ROOT = Path(__file__).resolve().parent.parent
START_MARKER, END_MARKER = markers("plan")

TASKS = 5_000
PHASES = 10
AREAS = 20
MODULES_PER_AREA = 15  # 300 module directories
REPETITIONS = 5
DB_REPETITIONS = 3
SEED = 20240601

FILE_NAMES = (
    "models",
    "views",
    "api",
    "services",
    "selectors",
    "forms",
    "admin",
    "urls",
    "tasks",
    "schemas",
    "signals",
    "serializers",
)


# How a task's globs are drawn: (kind, weight). "typical" is a plan laid out for parallel work
# (most globs name files, tests sit beside the file they test); "crowded" is a stress case
# where module-wide wildcards and tree-wide sweeps make many more tasks collide.
GLOB_MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "typical": (
        ("home_file", 0.45),
        ("other_file", 0.15),
        ("test_file", 0.15),
        ("module_tests", 0.03),
        ("module_files", 0.07),
        ("module_tree", 0.04),
        ("doc", 0.1095),
        ("sweep", 0.0005),
    ),
    "crowded": (
        ("home_file", 0.45),
        ("other_file", 0.15),
        ("module_tests", 0.15),
        ("module_files", 0.10),
        ("module_tree", 0.07),
        ("doc", 0.078),
        ("sweep", 0.002),
    ),
}


def draw_glob(rng: random.Random, kind: str, home: str, modules: list[str]) -> str:
    area, module = home.split("/")
    name = rng.choice(FILE_NAMES)
    globs = {
        "home_file": f"src/{home}/{name}.py",
        "other_file": f"src/{rng.choice(modules)}/{name}.py",
        "test_file": f"tests/{home}/test_{name}.py",
        "module_tests": f"tests/{area}/test_{module}_*.py",
        "module_files": f"src/{home}/*.py",
        "module_tree": f"src/{home}/**",
        "doc": f"docs/{home}.md",
        "sweep": rng.choice(("**/conftest.py", "**/__init__.py", "src/**/migrations/*.py")),
    }
    return globs[kind]


@dataclass
class SyntheticPlan:
    phase_of: dict[str, int] = field(default_factory=dict)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    estimates: dict[str, int] = field(default_factory=dict)
    file_globs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def edges(self) -> int:
        return sum(len(deps) for deps in self.depends_on.values())

    @property
    def globs(self) -> int:
        return sum(len(globs) for globs in self.file_globs.values())


def synthetic_plan(tasks: int = TASKS, seed: int = SEED, mix: str = "typical") -> SyntheticPlan:
    """A plan shaped like a large real one: mostly local dependencies and file globs.

    Each task works mainly in one module directory; its dependencies are 1-3 earlier tasks,
    mostly recent ones (the same stretch of work), sometimes anything earlier.
    """
    rng = random.Random(seed)
    modules = [
        f"{area}/{module}"
        for area in (f"area{a:02d}" for a in range(AREAS))
        for module in (f"mod{m:02d}" for m in range(MODULES_PER_AREA))
    ]
    kinds = [kind for kind, _ in GLOB_MIXES[mix]]
    weights = [weight for _, weight in GLOB_MIXES[mix]]
    plan = SyntheticPlan()
    keys: list[str] = []
    per_phase = -(-tasks // PHASES)
    for index in range(tasks):
        phase = index // per_phase + 1
        key = f"P{phase}-T{index % per_phase + 1}"
        deps: list[str] = []
        if index >= 3:
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.8:
                    dep = keys[rng.randrange(max(0, index - 200), index)]
                else:
                    dep = keys[rng.randrange(index)]
                if dep not in deps:
                    deps.append(dep)
        home = rng.choice(modules)
        globs: list[str] = []
        for kind in rng.choices(kinds, weights, k=rng.randint(2, 4)):
            glob = draw_glob(rng, kind, home, modules)
            if glob not in globs:
                globs.append(glob)
        keys.append(key)
        plan.phase_of[key] = phase
        plan.depends_on[key] = deps
        plan.estimates[key] = rng.randint(1, 8)
        plan.file_globs[key] = globs
    return plan


def measure(
    run: Callable[[], object], repetitions: int, before: Callable[[], object] | None = None
) -> dict[str, float]:
    """Milliseconds per run: the minimum (the machine's best) and the median (typical), and
    the median CPU time, which other work on the machine does not inflate.

    One untimed run first, so that no sample pays for growing the process's heap. ``before``
    runs, untimed, ahead of every run.
    """
    if before is not None:
        before()
    run()
    samples: list[float] = []
    cpu: list[float] = []
    for _ in range(repetitions):
        if before is not None:
            before()
        # Start each run from a clean heap; the collector stays on, as it is in the server.
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        run()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return {
        "min_ms": min(samples),
        "median_ms": statistics.median(samples),
        "cpu_median_ms": statistics.median(cpu),
    }


def setup_django() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django

    django.setup()


def in_memory_figures(plan: SyntheticPlan) -> dict[str, Any]:
    from projects.globs import overlapping_pairs
    from projects.graph import critical_path, waves
    from projects.selectors import PlanGraph, analyse_graph

    graph = PlanGraph(
        depends_on=plan.depends_on, estimates=plan.estimates, file_globs=plan.file_globs
    )
    analysis = analyse_graph(graph)
    shape = {
        "tasks": len(plan.depends_on),
        "edges": plan.edges,
        "globs": plan.globs,
        "waves": len(analysis.waves),
        "widest_wave": max(len(layer) for layer in analysis.waves),
        "critical_path_tasks": len(analysis.critical_path.keys),
        "critical_path_length": analysis.critical_path.length,
        "colliding_pairs": len(analysis.collisions),
        "glob_pairs": sum(len(collision.globs) for collision in analysis.collisions),
        "complete": analysis.collisions_complete,
    }
    del analysis  # a server holds no earlier answer while it computes the next
    timings = {
        "waves": measure(lambda: waves(plan.depends_on), REPETITIONS),
        "critical_path": measure(
            lambda: critical_path(plan.depends_on, plan.estimates), REPETITIONS
        ),
        "overlapping_pairs": measure(lambda: overlapping_pairs(plan.file_globs), REPETITIONS),
        "analyse_graph": measure(lambda: analyse_graph(graph), REPETITIONS),
    }
    crowded = synthetic_plan(mix="crowded")
    crowded_collisions = overlapping_pairs(crowded.file_globs)
    crowded_shape = {
        "globs": crowded.globs,
        "colliding_pairs": len(crowded_collisions.pairs),
        "glob_pairs": sum(len(collision.globs) for collision in crowded_collisions.pairs),
        "complete": crowded_collisions.complete,
    }
    del crowded_collisions
    crowded_timings = {
        "overlapping_pairs": measure(lambda: overlapping_pairs(crowded.file_globs), REPETITIONS)
    }
    return {
        "timings": timings,
        "shape": shape,
        "crowded": {"timings": crowded_timings, "shape": crowded_shape},
        "adversarial": adversarial_figures(plan),
    }


def forget_memos() -> None:
    """Empty the matcher's memos, so a run pays for every decision (the worst case)."""
    from projects.globs import matching

    for memo in (matching.segments_intersect, matching.analysed_form, matching._char_positions):
        memo.cache_clear()


def adversarial_plans(plan: SyntheticPlan) -> list[tuple[str, dict[str, list[str]]]]:
    """Plans built to cost the most, each with what it is.

    The costliest globs found for one task are short and wildcard-led: nothing in the index
    keeps them from being compared with every glob of the plan, no cheap test rejects them,
    and they collide with most tasks. Globs at every limit (500 characters, 32 segments, 16
    wildcards) cost less: a path must have at least their 31 ordinary segments, which the
    plan's globs do not, and that is known at once. The worst whole plans spend everything
    one analysis may do (``MAX_COMPARISON_WORK``, ``MAX_LISTED_GLOB_PAIRS``) at its cheapest
    per unit: thousands of tasks whose globs all collide, one pair of globs each.
    """
    from projects.globs import MAX_FILE_GLOBS

    def with_task(globs: list[str]) -> dict[str, list[str]]:
        return {**plan.file_globs, "ATTACK": globs}

    issue = ["*a" * 246 + f"*{i:02d}x/**" for i in range(14)]
    costliest = [f"**/*{i}*/**" for i in range(MAX_FILE_GLOBS)]
    at_limits = []
    for i in range(MAX_FILE_GLOBS):
        glob = "/".join(["**", *(f"*{i}?{k}" for k in range(7)), *(["seg"] * 23), "*.py"])
        at_limits.append(glob + "x" * (500 - len(glob)))

    def pieces(i: int) -> str:
        piece = "/".join(["pppppppp"] * 4)
        return "/".join(["**", *(f"*{k}{i}?/{piece}/**" for k in range(5))])

    return [
        ("the issue's 14 globs, stored before the limits, on one task", with_task(issue)),
        (f"{MAX_FILE_GLOBS} of the costliest globs found, on one task", with_task(costliest)),
        (f"{MAX_FILE_GLOBS} globs at every limit, on one task", with_task(at_limits)),
        (
            "5,000 tasks, each with a wildcard-led glob that collides with all the others",
            {f"T{i}": [f"**/*{i}*/**"] for i in range(5_000)},
        ),
        (
            "2,000 tasks, each with a glob of five wildcard pieces between '**'s",
            {f"T{i}": [pieces(i)] for i in range(2_000)},
        ),
    ]


def adversarial_figures(plan: SyntheticPlan) -> list[dict[str, Any]]:
    """``analyse_graph`` on each adversarial plan, with nothing memoised before a run."""
    from projects.globs import clean_file_globs
    from projects.selectors import PlanGraph, analyse_graph

    figures = []
    for name, file_globs in adversarial_plans(plan):
        tasks = list(file_globs)
        graph = PlanGraph(
            depends_on={key: [] for key in tasks},
            estimates=dict.fromkeys(tasks, 1),
            file_globs=file_globs,
        )
        analysis = analyse_graph(graph)
        refused = bool(clean_file_globs(file_globs.get("ATTACK", []))[1])
        figures.append(
            {
                "name": name,
                "tasks": len(tasks),
                "colliding_pairs": len(analysis.collisions),
                "glob_pairs": sum(len(collision.globs) for collision in analysis.collisions),
                "complete": analysis.collisions_complete,
                "refused_now": refused,
                "timings": measure(partial(analyse_graph, graph), REPETITIONS, forget_memos),
            }
        )
        del analysis
    return figures


def store_plan(plan: SyntheticPlan) -> Any:
    """Write the plan with bulk inserts (a benchmark fixture, not a use case: no events)."""
    from peercode.actors import Actor
    from projects import services
    from projects.models import Phase, Task

    project = services.create_project(
        slug="bench-plan", name="Bench plan", actor=Actor.system("bench")
    )
    phases = Phase.objects.bulk_create(
        Phase(project=project, number=number, name=f"Phase {number}")
        for number in sorted(set(plan.phase_of.values()))
    )
    phase_ids = {phase.number: phase.pk for phase in phases}
    Task.objects.bulk_create(
        (
            Task(
                project=project,
                phase_id=phase_ids[plan.phase_of[key]],
                key=key,
                title=f"Task {key}",
                estimate=plan.estimates[key],
                file_globs=plan.file_globs[key],
            )
            for key in plan.depends_on
        ),
        batch_size=500,
    )
    task_ids = dict(Task.objects.filter(project=project).values_list("key", "id"))
    through = Task.depends_on.through
    through.objects.bulk_create(
        (
            through(from_task_id=task_ids[key], to_task_id=task_ids[dep])
            for key, deps in plan.depends_on.items()
            for dep in deps
        ),
        batch_size=1000,
    )
    return project


def database_figures() -> dict[str, Any]:
    """Run in a child process: time the selectors against a scratch database."""
    setup_django()
    from django.db import connection, transaction

    from projects.selectors import PlanGraph, analyse_graph, analyse_plan, plan_graph
    from projects.services.tasks import plan_changed

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        scratch = Path(os.environ["PEERCODE_DATA_DIR"]) / "bench-plan.sqlite3"
        settings_dict.setdefault("TEST", {})["NAME"] = str(scratch)
    else:
        settings_dict.setdefault("TEST", {})["NAME"] = f"{settings_dict['NAME']}_bench_plan"
    original_name = settings_dict["NAME"]
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    migrate_ms = (time.perf_counter() - started) * 1000
    try:
        plan = synthetic_plan()
        started = time.perf_counter()
        project = store_plan(plan)
        insert_ms = (time.perf_counter() - started) * 1000
        stored = analyse_plan(project)
        loaded = analyse_graph(
            PlanGraph(
                depends_on=plan.depends_on, estimates=plan.estimates, file_globs=plan.file_globs
            )
        )
        # The figures only mean something if the database returns the plan it was given.
        if (stored.waves, stored.critical_path.length, stored.collisions) != (
            loaded.waves,
            loaded.critical_path.length,
            loaded.collisions,
        ):
            raise SystemExit("The plan read back from the database analyses differently.")
        del stored, loaded  # a server holds no earlier answer while it computes the next
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("select sqlite_version()")
                version = f"SQLite {cursor.fetchone()[0]}"
            else:
                cursor.execute("show server_version")
                version = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"

        def change_the_plan() -> None:
            with transaction.atomic():
                plan_changed(project)

        return {
            "backend": version,
            "migrate_ms": migrate_ms,
            "insert_ms": insert_ms,
            "timings": {
                "plan_graph": measure(lambda: plan_graph(project), DB_REPETITIONS),
                "analyse_plan, first read after a change": measure(
                    lambda: analyse_plan(project), DB_REPETITIONS, change_the_plan
                ),
                "analyse_plan, a later read (cached)": measure(
                    lambda: analyse_plan(project), DB_REPETITIONS
                ),
            },
        }
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)


def run_database_child(database_url: str | None, data_dir: str) -> dict[str, Any]:
    env = dict(os.environ, PEERCODE_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="peercode.settings")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--database-only"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"The database benchmark failed (exit {completed.returncode}).")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


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


def table(rows: list[tuple[str, str, dict[str, float]]]) -> list[str]:
    lines = [
        "| where | computation | min (ms) | median (ms) |",
        "| --- | --- | ---: | ---: |",
    ]
    for where, name, figures in rows:
        lines.append(
            f"| {where} | `{name}` | {figures['min_ms']:.1f} | {figures['median_ms']:.1f} |"
        )
    return lines


def section(
    memory: dict[str, Any], databases: list[dict[str, Any]], command: str, elapsed: float
) -> str:
    shape, crowded = memory["shape"], memory["crowded"]["shape"]
    rows = [("in memory", name, figures) for name, figures in memory["timings"].items()]
    rows.extend(
        ("in memory, crowded globs", name, figures)
        for name, figures in memory["crowded"]["timings"].items()
    )
    for database in databases:
        rows.extend(
            (database["backend"], name, figures) for name, figures in database["timings"].items()
        )
    lines = [
        START_MARKER,
        "## Plan analysis (bench/plan.py)",
        "",
        f"A synthetic plan of {shape['tasks']:,} tasks in {PHASES} phases, "
        f"{shape['edges']:,} dependencies, {shape['globs']:,} file globs across "
        f"{AREAS * MODULES_PER_AREA} module directories. Its shape: {shape['waves']} waves "
        f"(the widest has {shape['widest_wave']} tasks), a critical path of "
        f"{shape['critical_path_tasks']} tasks weighing {shape['critical_path_length']}, "
        f"{shape['colliding_pairs']:,} pairs of tasks with intersecting globs "
        f"({shape['glob_pairs']:,} intersecting pairs of globs).",
        "",
        "The cost of `overlapping_pairs` beyond indexing follows the size of its answer, so it "
        "is also measured on a *crowded* variant of the same plan, where module-wide wildcards "
        f"and tree-wide sweeps are common: {crowded['globs']:,} globs, "
        f"{crowded['colliding_pairs']:,} colliding pairs of tasks listed "
        f"({crowded['glob_pairs']:,} pairs of globs; "
        f"{'all of them' if crowded['complete'] else 'the analysis stopped at its limit'}).",
        "",
        f"Each figure is the minimum and the median of {REPETITIONS} runs in memory and "
        f"{DB_REPETITIONS} through the database. `analyse_graph` is waves + critical path + "
        "collisions on data already loaded; `plan_graph` loads the plan (two queries). "
        "`analyse_plan` is what a plan read does: the plan's revision (one query), then the "
        "analysis from the cache, or, on the first read after a change, `plan_graph` and "
        "`analyse_graph`, stored in the cache.",
        "",
        *table(rows),
        "",
        *adversarial_section(memory["adversarial"]),
    ]
    for database in databases:
        lines.append(
            f"- {database['backend']}: migrating a scratch database took "
            f"{database['migrate_ms']:,.0f} ms, bulk-inserting the plan "
            f"{database['insert_ms']:,.0f} ms (setup, not measured above)."
        )
    lines += [
        f"- Machine: {machine()}.",
        f"- Command: `{command}` (whole run {elapsed:.1f} s, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}).",
        END_MARKER,
    ]
    return "\n".join(lines)


def adversarial_section(figures: list[dict[str, Any]]) -> list[str]:
    worst = max(figures, key=lambda figure: figure["timings"]["cpu_median_ms"])["timings"]
    lines = [
        "### Adversarial plans",
        "",
        "`analyse_graph` on plans built to cost the most under the limits on globs "
        '(docs/limits.md, "Plan globs"), with nothing memoised before each run. The first '
        "three are the plan above with one more task; the last two spend all the work one "
        "analysis may do. The worst took "
        f"{worst['cpu_median_ms']:,.0f} ms of CPU time (median; {worst['median_ms']:,.0f} ms "
        "of wall time, on a machine shared with other work): "
        f"{'under' if worst['cpu_median_ms'] < 1000 else 'over'} a second.",
        "",
        "| plan | tasks | colliding pairs listed | complete | min (ms) | median (ms) "
        "| CPU, median (ms) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for figure in figures:
        name = figure["name"] + (" (refused if sent now)" if figure["refused_now"] else "")
        timings = figure["timings"]
        lines.append(
            f"| {name} | {figure['tasks']:,} | {figure['colliding_pairs']:,} "
            f"| {'yes' if figure['complete'] else 'no'} | {timings['min_ms']:.1f} "
            f"| {timings['median_ms']:.1f} | {timings['cpu_median_ms']:.1f} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures without updating the doc"
    )
    options = parser.parse_args()
    if options.database_only:
        print(json.dumps(database_figures()))
        return

    started = time.perf_counter()
    database_url = os.environ.get("DATABASE_URL", "").strip() or None
    with tempfile.TemporaryDirectory(prefix="peercode-bench-plan-") as data_dir:
        os.environ["PEERCODE_DATA_DIR"] = data_dir
        os.environ.pop("DATABASE_URL", None)
        setup_django()
        plan = synthetic_plan()
        print(f"plan: {len(plan.depends_on):,} tasks, {plan.edges:,} edges, {plan.globs:,} globs")
        memory = in_memory_figures(plan)
        print(f"in memory: done at {time.perf_counter() - started:.1f} s")
        databases = [run_database_child(None, data_dir)]
        print(f"{databases[-1]['backend']}: done at {time.perf_counter() - started:.1f} s")
        if database_url:
            databases.append(run_database_child(database_url, data_dir))
            print(f"{databases[-1]['backend']}: done at {time.perf_counter() - started:.1f} s")
    elapsed = time.perf_counter() - started

    command = ".venv/bin/python bench/plan.py"
    if database_url:
        command = f"DATABASE_URL=postgres://... {command}"
    text = section(memory, databases, command, elapsed)
    print()
    print("\n".join(line for line in text.splitlines() if not line.startswith("<!--")))
    if not options.no_write:
        write_section("plan", text)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
