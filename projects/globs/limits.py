"""What a glob may hold, and the one check of every glob that comes in (docs/limits.md,
"Plan globs"): plan files and decompositions, and the services behind REST, MCP and the admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

# What a glob a task stores may hold (docs/limits.md, "Plan globs"). Real plans stay far below:
# a task names a handful of files or directories, a few levels deep, with a wildcard or two.
MAX_FILE_GLOBS: Final = 12  # per task
MAX_GLOB_LENGTH: Final = 500  # characters
MAX_GLOB_SEGMENTS: Final = 32  # the parts between '/'
MAX_GLOB_WILDCARDS: Final = 16  # each '?', and each run of '*' (so '**' counts one)
GLOB_LIMITS: Final = (
    f"At most {MAX_FILE_GLOBS} globs, each at most {MAX_GLOB_LENGTH} characters, "
    f"{MAX_GLOB_SEGMENTS} segments and {MAX_GLOB_WILDCARDS} wildcards."
)
_WILDCARDS = re.compile(r"\*+|\?")


def _shown(glob: str) -> str:
    return repr(glob if len(glob) <= 60 else glob[:57] + "...")


def glob_problem(glob: str) -> str | None:
    """What keeps a trimmed, '/'-separated glob from being stored, said so that the sender can
    fix it; None when it may be stored."""
    if glob.startswith("/") or ".." in glob.split("/"):
        return f"file glob {_shown(glob)} must be relative to the repository root, without '..'"
    return size_problem(glob)


def size_problem(glob: str) -> str | None:
    """Which limit on its size the glob is over, and how to come within it; None if none."""
    instead = "name a directory above the files instead, e.g. 'src/api/**'"
    if len(glob) > MAX_GLOB_LENGTH:
        return (
            f"file glob {_shown(glob)} is {len(glob)} characters long, over the limit of "
            f"{MAX_GLOB_LENGTH}; {instead}"
        )
    segments = sum(1 for part in glob.split("/") if part not in ("", "."))
    if segments > MAX_GLOB_SEGMENTS:
        return (
            f"file glob {_shown(glob)} has {segments} segments, over the limit of "
            f"{MAX_GLOB_SEGMENTS}; {instead}"
        )
    wildcards = len(_WILDCARDS.findall(glob))
    if wildcards > MAX_GLOB_WILDCARDS:
        return (
            f"file glob {_shown(glob)} has {wildcards} wildcards, over the limit of "
            f"{MAX_GLOB_WILDCARDS} (each '?' and each run of '*' counts one); use fewer, e.g. "
            "'src/api/**' for a whole directory"
        )
    return None


def clean_file_globs(
    globs: Iterable[object], *, most: int | None = MAX_FILE_GLOBS
) -> tuple[list[str], list[str]]:
    """The globs as they are stored (trimmed, '\\' read as '/', duplicates dropped), and one
    sentence per problem, each naming the glob or limit and how to fix it.

    The one check of every glob that comes in: plan files, the services behind REST, MCP and
    the admin. ``most`` bounds how many distinct globs there may be (None: any number).
    """
    checked: dict[str, str | None] = {}  # each distinct glob -> its problem, if any
    problems: list[str] = []
    for glob in globs:
        if isinstance(glob, str) and glob.strip():
            value = glob.strip().replace("\\", "/")
            if value not in checked:
                checked[value] = glob_problem(value)
        else:
            shown = _shown(glob) if isinstance(glob, str) else type(glob).__name__
            problems.append(
                f"file globs must be non-empty strings such as 'src/api/**', got {shown}"
            )
    cleaned = [value for value, problem in checked.items() if problem is None]
    problems.extend(problem for problem in checked.values() if problem is not None)
    if most is not None and len(checked) > most:
        problems.append(
            f"{len(checked)} file globs, over the limit of {most} per task; cover several "
            "files with one glob, e.g. 'src/api/**'"
        )
    return cleaned, problems
