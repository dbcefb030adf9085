"""The git checks on a completed push, run with real git against repositories made in
``tmp_path`` (a working copy and a bare repository with a clone that pushes to it).
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from locks import push
from locks.models import Lock, LockSpace, LockStatus, Mode, PushStatus, PushTicket, Scope
from peercode.errors import NotConfigured, ValidationFailed
from projects.models import Agent, Project
from tests.locks.push_support import events, finish, ticket_of

# The clock (tests/locks/conftest.py) stands in for django.utils.timezone.now in every test here.
pytestmark = pytest.mark.usefixtures("clock")


IDENTITY = ("-c", "user.name=PeerCode Tests", "-c", "user.email=tests@peercode.invalid")


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No system or user git configuration, for the tests' git and the server's alike."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)
    return home


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *IDENTITY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def commit(work: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def use_repository(project: Project, path: Path | str) -> None:
    project.git_repository = str(path)
    project.save(update_fields=["git_repository"])


@pytest.fixture
def working_copy(tmp_path: Path, git_home: Path, project: Project) -> Path:
    """A working copy on branch peer-progress, configured as the project's repository."""
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "peer-progress", str(work))
    use_repository(project, work)
    return work


@pytest.fixture
def bare(tmp_path: Path, git_home: Path, project: Project) -> tuple[Path, Path]:
    """A bare repository (the project's) and a clone on branch peer-progress that pushes to it."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", "peer-progress")
    use_repository(project, origin)
    return origin, clone


def held_lock(
    project: Project,
    holder: Agent,
    path: str,
    *,
    mode: str = Mode.EXCLUSIVE,
    status: str = LockStatus.HELD,
    expires_in: int = 600,
    start_line: int | None = None,
    end_line: int | None = None,
) -> Lock:
    """A lock row as a grant stores it, with a token from the project's counter."""
    space, _ = LockSpace.objects.get_or_create(project=project)
    space.last_token += 1
    space.save()
    now = timezone.now()
    return Lock.objects.create(
        project=project,
        holder=holder,
        path=path,
        scope=Scope.LINES if start_line else Scope.FILE,
        start_line=start_line,
        end_line=end_line,
        mode=mode,
        status=status,
        fencing_token=space.last_token,
        ttl_seconds=600,
        requested_at=now,
        granted_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


def codes(ticket: PushTicket) -> list[str]:
    return [violation["code"] for violation in ticket.violations]


class TestGitChecks:
    def test_fast_forward_pushes_to_a_working_copy_are_recorded_clean_with_full_ids(
        self, project: Project, ann: Agent, bob: Agent, working_copy: Path
    ) -> None:
        first = push.request_push(agent=ann)
        one = commit(working_copy, {"src/app.py": "v1"})
        done = finish(first, one[:7])
        assert (done.commit_sha, done.previous_head, done.violations) == (one, "", [])
        second = push.request_push(agent=bob)
        two = commit(working_copy, {"src/app.py": "v2"})
        done = finish(second, two.upper())
        assert (done.commit_sha, done.previous_head, done.violations) == (two, one, [])
        completed = events(project, "push.completed")[-1].payload
        assert (completed["checked_with_git"], completed["changed_files"]) == (True, 1)
        assert not events(project, "push.violation")

    def test_pushes_to_a_bare_repository_are_checked_the_same_way(
        self, project: Project, ann: Agent, bob: Agent, bare: tuple[Path, Path]
    ) -> None:
        _, clone = bare
        first = push.request_push(agent=ann)
        one = commit(clone, {"README.md": "hello"})
        git(clone, "push", "-q", "origin", "peer-progress")
        assert finish(first, one).violations == []
        second = push.request_push(agent=bob)
        two = commit(clone, {"README.md": "hello again"})
        git(clone, "push", "-q", "origin", "peer-progress")
        done = finish(second, two)
        assert (done.previous_head, done.violations) == (one, [])

    def test_a_commit_the_branch_does_not_point_at_is_a_head_mismatch(
        self, project: Project, ann: Agent, bob: Agent, working_copy: Path
    ) -> None:
        base = commit(working_copy, {"src/app.py": "v1"})
        finish(push.request_push(agent=ann), base)
        second = push.request_push(agent=bob)
        git(working_copy, "checkout", "-q", "-b", "side")
        aside = commit(working_copy, {"src/app.py": "v2"})
        git(working_copy, "checkout", "-q", "peer-progress")
        done = finish(second, aside)
        # Recorded all the same: it is reported, not undone.
        assert (done.status, done.commit_sha) == (PushStatus.COMPLETED, aside)
        [violation] = done.violations
        assert violation["code"] == "head_mismatch"
        assert violation["branch_head"] == base
        assert base[:12] in violation["message"]
        [event] = events(project, "push.violation")
        assert event.actor == "agent:bob"
        assert event.payload["attention"] == "humans"
        assert event.payload["code"] == "head_mismatch"
        assert event.payload["commit"] == aside
        assert ticket_of(second).status == PushStatus.COMPLETED

    def test_a_branch_missing_from_the_repository_is_a_head_mismatch(
        self, project: Project, ann: Agent, tmp_path: Path, git_home: Path
    ) -> None:
        work = tmp_path / "elsewhere"
        git(tmp_path, "init", "-q", "-b", "main", str(work))
        use_repository(project, work)
        sha = commit(work, {"a.txt": "a"})
        done = finish(push.request_push(agent=ann), sha)
        [violation] = done.violations
        assert (violation["code"], violation["branch_head"]) == ("head_mismatch", None)
        assert "does not exist" in violation["message"]

    def test_a_force_moved_branch_is_not_a_fast_forward(
        self, project: Project, ann: Agent, bob: Agent, bare: tuple[Path, Path]
    ) -> None:
        _, clone = bare
        root = commit(clone, {"README.md": "root"})
        ahead = commit(clone, {"src/app.py": "ann's work"})
        git(clone, "push", "-q", "origin", "peer-progress")
        assert finish(push.request_push(agent=ann), ahead).violations == []
        second = push.request_push(agent=bob)
        git(clone, "reset", "-q", "--hard", root)
        rewritten = commit(clone, {"src/other.py": "bob's work"})
        git(clone, "push", "-q", "--force", "origin", "peer-progress")
        done = finish(second, rewritten)
        assert codes(done) == ["not_fast_forward"]
        assert done.violations[0]["previous_head"] == ahead
        assert done.previous_head == ahead
        assert [event.payload["code"] for event in events(project, "push.violation")] == [
            "not_fast_forward"
        ]

    def test_changed_files_locked_exclusively_by_another_agent_are_violations(
        self,
        project: Project,
        ann: Agent,
        bob: Agent,
        cat: Agent,
        dan: Agent,
        working_copy: Path,
    ) -> None:
        commit(working_copy, {"src/base_only.py": "x", "src/app.py": "v0"}, "before the queue")
        first = push.request_push(agent=ann)
        held_lock(project, bob, "src/app.py")
        held_lock(project, cat, "src/lib.py", start_line=1, end_line=10)
        held_lock(project, cat, "README.md", mode=Mode.SHARED)
        held_lock(project, dan, "docs/guide.md", expires_in=-1)
        held_lock(project, bob, "docs/guide.md", status=LockStatus.RELEASED)
        held_lock(project, ann, "src/own.py")
        held_lock(project, bob, "src/base_only.py")  # not changed by the pushed commit
        sha = commit(
            working_copy,
            {
                "src/app.py": "v1",
                "src/lib.py": "lib",
                "README.md": "readme",
                "docs/guide.md": "guide",
                "src/own.py": "mine",
            },
        )
        done = finish(first, sha)
        assert codes(done) == ["locked_by_another_agent"] * 2
        assert [(v["path"], v["holder"], v["scope"]) for v in done.violations] == [
            ("src/app.py", "bob", "file"),
            ("src/lib.py", "cat", "lines"),
        ]
        assert "lines 1-10" in done.violations[1]["message"]
        assert "bob" in done.violations[0]["message"]
        payloads = [event.payload for event in events(project, "push.violation")]
        assert [(p["path"], p["holder"], p["attention"]) for p in payloads] == [
            ("src/app.py", "bob", "humans"),
            ("src/lib.py", "cat", "humans"),
        ]

    def test_after_the_first_push_every_file_changed_since_the_recorded_head_is_checked(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent, working_copy: Path
    ) -> None:
        finish(push.request_push(agent=ann), commit(working_copy, {"README.md": "r"}))
        second = push.request_push(agent=bob)
        commit(working_copy, {"src/app.py": "bob 1"})
        tip = commit(working_copy, {"src/other.py": "bob 2"})
        held_lock(project, cat, "src/app.py")
        done = finish(second, tip)
        assert [(v["code"], v["path"]) for v in done.violations] == [
            ("locked_by_another_agent", "src/app.py")
        ]

    @pytest.mark.parametrize("kind", ["plain directory", "missing", "inside a working copy"])
    def test_a_path_that_is_not_a_repository_is_refused_and_the_turn_is_kept(
        self, project: Project, ann: Agent, tmp_path: Path, git_home: Path, kind: str
    ) -> None:
        if kind == "plain directory":
            path = tmp_path / "plain"
            path.mkdir()
        elif kind == "missing":
            path = tmp_path / "missing"
        else:
            work = tmp_path / "work"
            git(tmp_path, "init", "-q", "-b", "peer-progress", str(work))
            commit(work, {"src/app.py": "v1"})
            path = work / "src"
        use_repository(project, path)
        first = push.request_push(agent=ann)
        with pytest.raises(NotConfigured) as excinfo:
            finish(first, "abc1234")
        assert excinfo.value.code == "git_repository_unusable"
        assert str(path) in excinfo.value.message
        assert "git_repository" in excinfo.value.message
        assert ticket_of(first).status == PushStatus.ACTIVE
        assert not events(project, "push.completed")

    def test_a_commit_missing_from_the_repository_is_refused_and_the_turn_is_kept(
        self, project: Project, ann: Agent, working_copy: Path
    ) -> None:
        commit(working_copy, {"a.txt": "a"})
        first = push.request_push(agent=ann)
        with pytest.raises(ValidationFailed) as excinfo:
            finish(first, "deadbeef" * 5)
        assert excinfo.value.code == "unknown_commit"
        assert "push it first" in excinfo.value.message
        assert ticket_of(first).status == PushStatus.ACTIVE
        sha = commit(working_copy, {"a.txt": "b"})
        assert finish(first, sha).violations == []
