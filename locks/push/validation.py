"""What the push queue accepts as input: branch names, repository paths, commit ids, and the
whole numbers that name tickets and tokens.

Each ``clean_*`` function returns the value in the form the queue stores, or raises
``ValidationFailed`` saying what was wrong and what would be accepted, before any service
writes anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from locks.rules import normalize_path
from peercode.errors import ValidationFailed

MAX_PATHS = 500
MAX_BRANCH_LENGTH = 200  # PushTicket.branch

SHA_PATTERN = re.compile(r"[0-9a-fA-F]{4,64}")
BRANCH_FORBIDDEN_CHARACTERS = "~^:?*[\\"
BRANCH_HELP = (
    "Use letters, digits and '.', '_', '-', '/' (such as 'peer-progress' or 'feature/login'): "
    "no spaces or control characters, none of ~ ^ : ? * [ \\, no '..' or '@{', no part "
    "starting with '.', no leading '-', no leading, trailing or doubled '/', and no trailing "
    "'.' or '.lock'."
)


def clean_branch(branch: object) -> str:
    """The branch name when git would accept it as a branch, else a refusal saying why."""
    if not isinstance(branch, str):
        raise ValidationFailed(
            f"branch must be a branch name (a string), got {branch!r}. {BRANCH_HELP}",
            code="bad_branch",
        )
    problem = _branch_problem(branch)
    if problem:
        raise ValidationFailed(
            f"Branch {branch!r} is not a valid git branch name: it {problem}. {BRANCH_HELP}",
            code="bad_branch",
        )
    return branch


def _branch_problem(name: str) -> str:
    """The first of git's ref-name rules (git check-ref-format --branch) the name breaks."""
    if not name:
        return "is empty"
    if len(name) > MAX_BRANCH_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_BRANCH_LENGTH})"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "contains a control character"
    if " " in name:
        return "contains a space"
    for char in BRANCH_FORBIDDEN_CHARACTERS:
        if char in name:
            return f"contains {char!r}"
    if ".." in name:
        return "contains '..'"
    if "@{" in name:
        return "contains '@{'"
    if name in ("@", "HEAD"):
        return f"is {name!r}, which git reserves"
    if name.startswith("-"):
        return "starts with '-'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty part (a leading, trailing or doubled '/')"
    if name.endswith("."):
        return "ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"has a part starting with '.' ({part!r})"
        if part.endswith(".lock"):
            return f"has a part ending with '.lock' ({part!r})"
    return ""


def clean_paths(paths: Sequence[str] | None) -> list[str]:
    """Normalized repository paths, each once, in the order given."""
    if paths is None:
        return []
    if isinstance(paths, str) or not isinstance(paths, Sequence):
        raise ValidationFailed(
            f"paths must be a list of repository paths such as ['src/app.py'], got {paths!r}.",
            code="bad_paths",
        )
    if len(paths) > MAX_PATHS:
        raise ValidationFailed(
            f"{len(paths)} paths given; name at most {MAX_PATHS} (the files you mean to change).",
            code="too_many_paths",
        )
    cleaned: list[str] = []
    for path in paths:
        normalized = normalize_path(path)
        if normalized not in cleaned:
            cleaned.append(normalized)
    return cleaned


def clean_sha(commit_sha: object) -> str:
    """A commit id as git writes it: 4 to 64 hex digits, lower-cased."""
    if not isinstance(commit_sha, str) or not SHA_PATTERN.fullmatch(commit_sha):
        raise ValidationFailed(
            f"commit_sha must be the commit you pushed, 4 to 64 hexadecimal digits (the output "
            f"of 'git rev-parse HEAD'), got {commit_sha!r}.",
            code="bad_commit_sha",
        )
    return commit_sha.lower()


def _whole_number(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed(
            f"{name} must be a whole number ≥ 1 (as request_push or push_status gave it), "
            f"got {value!r}.",
            code=f"bad_{name}",
        )
    return value
