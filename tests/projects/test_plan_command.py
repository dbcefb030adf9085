"""``manage.py plan import|export|decompose`` and ``manage.py demo load``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from peercode.events.models import Event
from projects.models import Contract, Project, Task
from projects.plan_format import load_plan_text
from tests.factories import make_project, make_task

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DEMO_PLAN = ROOT / "examples" / "demo-plan.yaml"

BAD_PLAN = """\
version: 1
phases:
  - {number: 1, name: Build}
tasks:
  - {key: A, title: Model, phase: 1, depends_on: [C]}
  - {key: B, title: API, phase: 1, depends_on: [A, GHOST]}
  - {key: C, title: UI, phase: 1, depends_on: [B], status: in_progress}
  - {key: A, title: Again, phase: 1}
"""


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("plan", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("plan", *args, stdout=out, stderr=err)
    return str(excinfo.value), err.getvalue()


def counts() -> tuple[int, int, int, int]:
    return (
        Project.objects.count(),
        Task.objects.count(),
        Contract.objects.count(),
        Event.objects.count(),
    )


@pytest.fixture
def bad_plan(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_PLAN, encoding="utf-8")
    return path


class TestImportCommand:
    def test_creates_the_project_imports_the_plan_and_shows_progress(self):
        out, err = run("import", str(DEMO_PLAN), "--project", "todo", "--create")
        project = Project.objects.get(slug="todo")
        assert project.name == "Demo: a todo app built by three agents"
        assert Task.objects.filter(project=project).count() == 12
        assert f"Validated {DEMO_PLAN}: 3 phases, 12 tasks, 4 contracts." in out
        assert "  wrote 12 tasks" in out
        assert "Created project 'todo': 3 phases, 12 tasks, 15 dependencies" in out
        assert err == ""

    def test_imports_json_into_an_existing_empty_project(self, tmp_path: Path):
        project = make_project(slug="empty")
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(yaml.safe_load(DEMO_PLAN.read_text())), encoding="utf-8")
        out, _ = run("import", str(path), "--project", "empty")
        assert Task.objects.filter(project=project).count() == 12
        assert "Imported into 'empty'" in out

    def test_every_problem_is_printed_as_file_item_message_and_nothing_is_written(
        self, bad_plan: Path
    ):
        before = counts()
        message, err = run_failing("import", str(bad_plan), "--project", "new", "--create")
        assert err.splitlines() == [
            f"{bad_plan}: tasks[0] (A): dependency cycle A → C → B → A; remove one of these "
            "dependencies",
            f"{bad_plan}: tasks[1] (B): depends_on: unknown task key GHOST; use keys of tasks "
            "in this plan",
            f"{bad_plan}: tasks[2] (C): status in_progress needs an assignee, and an imported "
            "plan has none; use ready (an agent then claims it) or done",
            f"{bad_plan}: tasks[3] (A): duplicate task key 'A' (also tasks[0]); give each "
            "task its own key",
        ]
        assert message == f"4 problems in {bad_plan}; nothing was imported."
        assert counts() == before
        assert not Project.objects.filter(slug="new").exists()

    def test_a_missing_project_without_create_is_refused(self):
        message, _ = run_failing("import", str(DEMO_PLAN), "--project", "nowhere")
        assert "No project 'nowhere'. Add --create" in message
        assert not Project.objects.filter(slug="nowhere").exists()

    def test_a_project_with_a_plan_needs_replace(self):
        project = make_project(slug="busy")
        make_task(project, "OLD")
        message, _ = run_failing("import", str(DEMO_PLAN), "--project", "busy")
        assert "already has a plan" in message
        assert "--replace" in message
        out, _ = run("import", str(DEMO_PLAN), "--project", "busy", "--replace")
        assert "deleted the old plan: 1 phases, 1 tasks, 0 contracts" in out
        assert "Replaced the plan of project 'busy'" in out
        assert not Task.objects.filter(project=project, key="OLD").exists()

    def test_an_unreadable_file_is_named(self, tmp_path: Path):
        missing = tmp_path / "missing.yaml"
        message, _ = run_failing("import", str(missing), "--project", "x", "--create")
        assert message.startswith(f"{missing}: cannot read the plan file")

    def test_exits_non_zero_from_the_shell_with_the_errors_on_stderr(
        self, bad_plan: Path, tmp_path: Path
    ):
        env = {**os.environ, "PEERCODE_DATA_DIR": str(tmp_path / "data")}
        env.pop("DATABASE_URL", None)
        completed = subprocess.run(
            [sys.executable, "manage.py", "plan", "import", str(bad_plan), "--project", "x"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode != 0
        assert f"{bad_plan}: tasks[1] (B): depends_on: unknown task key GHOST" in completed.stderr
        assert "nothing was imported" in completed.stderr


class TestExportCommand:
    def test_prints_yaml_that_imports_back_to_the_same_plan(self, tmp_path: Path):
        run("import", str(DEMO_PLAN), "--project", "todo", "--create")
        out, _ = run("export", "--project", "todo")
        assert out.startswith("version: 1\n")
        exported = load_plan_text(out, source="export.yaml")
        original = load_plan_text(DEMO_PLAN.read_text(), source="export.yaml")
        assert exported == original

    def test_writes_json_to_a_file_chosen_by_its_suffix(self, tmp_path: Path):
        run("import", str(DEMO_PLAN), "--project", "todo", "--create")
        target = tmp_path / "plan.json"
        out, _ = run("export", "--project", "todo", "--output", str(target))
        assert f"Wrote the plan of 'todo' to {target} (json)." in out
        document = json.loads(target.read_text(encoding="utf-8"))
        assert len(document["tasks"]) == 12

    def test_json_format_on_stdout(self):
        run("import", str(DEMO_PLAN), "--project", "todo", "--create")
        out, _ = run("export", "--project", "todo", "--format", "json")
        assert json.loads(out)["version"] == 1

    def test_an_unknown_project_is_refused_naming_the_known_ones(self):
        make_project(slug="known")
        message, _ = run_failing("export", "--project", "unknown")
        assert message == "No project 'unknown'. Check the slug (existing projects: known)."


class TestDecomposeCommand:
    def test_an_unreadable_description_file_is_named(self, tmp_path: Path):
        missing = tmp_path / "brief.md"
        message, _ = run_failing(
            "decompose", "--project", "x", "--create", "--description-file", str(missing)
        )
        assert message.startswith(f"{missing}: cannot read the description")
        assert not Project.objects.filter(slug="x").exists()

    def test_a_missing_project_without_create_is_refused(self, tmp_path: Path):
        brief = tmp_path / "brief.md"
        brief.write_text("A todo app.", encoding="utf-8")
        message, _ = run_failing("decompose", "--project", "x", "--description-file", str(brief))
        assert "No project 'x'. Add --create" in message

    def test_without_an_api_key_it_says_how_to_configure_one(self, tmp_path: Path, settings):
        settings.ANTHROPIC_API_KEY = ""
        make_project(slug="todo")
        brief = tmp_path / "brief.md"
        brief.write_text("A todo app.", encoding="utf-8")
        message, _ = run_failing("decompose", "--project", "todo", "--description-file", str(brief))
        assert "ANTHROPIC_API_KEY" in message
        assert not Task.objects.exists()

    def test_without_an_api_key_create_leaves_no_empty_project_behind(self, tmp_path, settings):
        settings.ANTHROPIC_API_KEY = ""
        brief = tmp_path / "brief.md"
        brief.write_text("A todo app.", encoding="utf-8")
        message, _ = run_failing(
            "decompose", "--project", "fresh", "--create", "--description-file", str(brief)
        )
        assert "export ANTHROPIC_API_KEY=" in message
        assert "plan import FILE --project fresh" in message
        assert not Project.objects.filter(slug="fresh").exists()


class TestDemoLoad:
    def test_loads_the_example_plan_once(self):
        call_command("demo", "load", stdout=StringIO())
        project = Project.objects.get(slug="demo")
        assert Task.objects.filter(project=project).count() == 12
        assert Contract.objects.filter(project=project).count() == 4
        out = StringIO()
        call_command("demo", "load", stdout=out)
        assert "already loaded" in out.getvalue()
        assert Task.objects.filter(project=project).count() == 12
        assert Event.objects.filter(project=project, type="plan.imported").count() == 1
