"""The git checks on a completed push, run with real git against the project's repository.

Read-only commands, no shell, with an environment that cannot point git at another repository:
the reported commit is resolved to its full id, compared with the branch head, checked to
descend from the previous recorded head, and its changed files are listed for the lock check.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

from peercode.errors import NotConfigured, UpstreamFailed, ValidationFailed

GIT_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class GitFindings:
    """What git says about a reported push: the full commit id, the files it changed since the
    previous recorded head, and the checks it failed (branch head, fast-forward)."""

    commit: str
    changed_files: list[str]
    violations: list[dict[str, Any]]


def inspect_push(repository: str, branch: str, commit: str, previous: str | None) -> GitFindings:
    """Check a reported push against the repository (read-only git commands, no shell)."""
    repo = _open_repository(repository)
    full = _resolve(repo, commit)
    if full is None:
        raise ValidationFailed(
            f"Commit {commit} is not in the repository ({repository}), or the short id is "
            "ambiguous: push it first, then call complete_push with its full id (git "
            "rev-parse HEAD). Your turn is kept until the lease ends.",
            code="unknown_commit",
        )
    violations: list[dict[str, Any]] = []
    head = _resolve(repo, f"refs/heads/{branch}")
    if head is None:
        violations.append(
            {
                "code": "head_mismatch",
                "message": (
                    f"Branch {branch!r} does not exist in the repository, so {full[:12]} was not "
                    f"pushed to it. Push to {branch!r}, or tell the humans where the work went."
                ),
                "branch_head": None,
            }
        )
    elif head != full:
        violations.append(
            {
                "code": "head_mismatch",
                "message": (
                    f"Branch {branch!r} points at {head[:12]} in the repository, not at the "
                    f"reported {full[:12]}: the recorded commit is not what the branch holds."
                ),
                "branch_head": head,
            }
        )
    previous_full = _resolve(repo, previous) if previous else None
    if previous and previous_full is None:
        violations.append(
            {
                "code": "not_fast_forward",
                "message": (
                    f"The previous recorded head of {branch!r}, {previous[:12]}, is no longer "
                    f"in the repository: its history was rewritten before {full[:12]}. A human "
                    "should check that no peer's work was lost."
                ),
                "previous_head": previous,
            }
        )
    elif previous_full is not None and not _is_ancestor(repo, previous_full, full):
        violations.append(
            {
                "code": "not_fast_forward",
                "message": (
                    f"{full[:12]} does not descend from {previous_full[:12]}, the previous "
                    f"recorded head of {branch!r}: the branch was force-moved. A human should "
                    "check that no peer's work was lost."
                ),
                "previous_head": previous_full,
            }
        )
    if previous_full is not None:
        changed = _names(repo, "diff", "--name-only", "--no-renames", "-z", previous_full, full)
    else:
        changed = _files_of(repo, full)
    return GitFindings(commit=full, changed_files=changed, violations=violations)


def _git(repo: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Variables that would point git at another repository than the one configured.
        if key
        not in {
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_COMMON_DIR",
            "GIT_NAMESPACE",
        }
    }
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",  # read-only: never take index.lock in a working copy
            "LC_ALL": "C",
            # Only the configured directory itself, never a repository somewhere above it.
            "GIT_CEILING_DIRECTORIES": os.path.dirname(repo),
        }
    )
    try:
        return subprocess.run(
            ["git", "-C", repo, *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise NotConfigured(
            "git is not installed on the server, so pushes cannot be checked. Install git, or "
            "clear the project's git_repository to record pushes unchecked.",
            code="git_missing",
        ) from None
    except subprocess.TimeoutExpired:
        raise UpstreamFailed(
            f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS} s in {repo}; call "
            "complete_push again (your turn is kept until the lease ends).",
            code="git_timeout",
        ) from None


def _open_repository(configured: str) -> str:
    """The configured path as an absolute path, once git confirms it is a repository."""
    repo = os.path.realpath(configured)
    advice = (
        "A human should set the project's git_repository to a working copy or bare repository "
        "the server can read, or clear it to record pushes unchecked."
    )
    if not os.path.isdir(repo):
        raise NotConfigured(
            f"The project's git repository {configured!r} does not exist or is not a "
            f"directory on the server. {advice}",
            code="git_repository_unusable",
        )
    found = _git(repo, "rev-parse", "--git-dir")
    if "dubious ownership" in found.stderr:
        raise NotConfigured(
            f"git refuses to read the project's git repository {configured!r}: it belongs to "
            "another user than the server's. A human should run, as the server's user, 'git "
            f"config --global --add safe.directory {repo}', or point git_repository at a copy "
            "the server owns.",
            code="git_repository_unusable",
        )
    if found.returncode != 0:
        said = found.stderr.strip().splitlines()
        raise NotConfigured(
            f"The project's git repository {configured!r} is not a git repository (git says: "
            f"{said[0] if said else 'nothing'}). {advice}",
            code="git_repository_unusable",
        )
    return repo


def _resolve(repo: str, name: str) -> str | None:
    """The full id of the commit ``name`` names, or None when there is none."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    return found.stdout.strip() if found.returncode == 0 else None


def _is_ancestor(repo: str, older: str, newer: str) -> bool:
    found = _git(repo, "merge-base", "--is-ancestor", older, newer)
    if found.returncode not in (0, 1):
        raise UpstreamFailed(
            f"git merge-base failed in {repo}: {found.stderr.strip()}. Call complete_push "
            "again; if it keeps failing, a human should check the repository.",
            code="git_failed",
        )
    return found.returncode == 0


def _names(repo: str, *args: str) -> list[str]:
    found = _git(repo, *args)
    if found.returncode != 0:
        raise UpstreamFailed(
            f"git {args[0]} failed in {repo}: {found.stderr.strip()}. Call complete_push "
            "again; if it keeps failing, a human should check the repository.",
            code="git_failed",
        )
    return [name for name in found.stdout.split("\0") if name]


def _files_of(repo: str, commit: str) -> list[str]:
    """The files a commit changed against its first parent (all its files for a root)."""
    parent = _resolve(repo, f"{commit}^1")
    if parent is None:
        return _names(repo, "ls-tree", "-r", "--name-only", "-z", commit)
    return _names(repo, "diff", "--name-only", "--no-renames", "-z", parent, commit)
