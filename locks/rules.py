"""The conflict rule, written once, as pure functions over :class:`LockSpec`.

Everything that decides whether two locks may be held at the same moment (granting, queueing,
the dry run, the stress test's independent checker) calls :func:`conflicts`; nothing else
restates the rule. Input cleaning lives here too, so that a path or a range means the same thing
wherever it arrives from.

The rule (issue 5):

* Two locks can only overlap on the same path.
* A ``file`` lock overlaps every lock on its path.
* A ``section`` lock overlaps a lock on the same section. Section names are symbols, so a
  section also contains its members: ``AuthService`` overlaps ``AuthService.login`` (and
  ``Mod::f`` its ``Mod``). When a section has a line range, it also overlaps every line range
  (a ``lines`` lock, or another section's range) that intersects it.
* Two line ranges overlap when they intersect (1-based, both ends inclusive).
* An exclusive lock conflicts with every overlapping lock; a shared lock only with exclusive
  ones. Locks of one holder never conflict with each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from locks.models import Mode, Scope
from peercode.errors import ValidationFailed

MAX_PATH_LENGTH = 1000  # Lock.path
MAX_SECTION_LENGTH = 300  # Lock.section
# Far beyond any real file, and far enough below 2**31 that PostgreSQL's int4range(start,
# end, '[]') (which stores end + 1) never overflows.
MAX_LINE = 100_000_000
# Separators that make a symbol a member of another: Python/JS/Java '.', Rust/C++ '::'.
SECTION_MEMBER_SEPARATORS = (".", "::")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:(/|$)")


@dataclass(frozen=True)
class LockSpec:
    """What a lock covers and how, independent of the database row that stores it."""

    path: str
    scope: str = Scope.FILE
    section: str = ""
    start_line: int | None = None
    end_line: int | None = None
    mode: str = Mode.EXCLUSIVE
    holder_id: int | None = None

    @property
    def has_range(self) -> bool:
        return self.start_line is not None and self.end_line is not None

    def describe(self) -> str:
        """The spec in words, as refusals and logs show it: ``src/a.py lines 3-9 (exclusive)``."""
        return f"{where(self)} ({self.mode})"


def where(spec: LockSpec) -> str:
    """The covered part of the file in words: ``src/a.py``, ``src/a.py lines 3-9``,
    ``src/a.py section AuthService.login (lines 3-9)``."""
    if spec.scope == Scope.FILE:
        return f"{spec.path} (whole file)"
    if spec.scope == Scope.LINES:
        return f"{spec.path} lines {spec.start_line}-{spec.end_line}"
    text = f"{spec.path} section {spec.section}"
    if spec.has_range:
        text += f" (lines {spec.start_line}-{spec.end_line})"
    return text


def _lines(spec: LockSpec) -> tuple[int, int] | None:
    if spec.start_line is None or spec.end_line is None:
        return None
    return spec.start_line, spec.end_line


def _same_section(a: str, b: str) -> bool:
    """Equal symbols, or one a member of the other (``A`` and ``A.login``)."""
    if a == b:
        return True
    outer, inner = (a, b) if len(a) < len(b) else (b, a)
    return any(inner.startswith(outer + sep) for sep in SECTION_MEMBER_SEPARATORS)


def overlaps(a: LockSpec, b: LockSpec) -> bool:
    """Whether ``a`` and ``b`` cover some common part of a file (symmetric; modes and
    holders play no part)."""
    if a.path != b.path:
        return False
    if a.scope == Scope.FILE or b.scope == Scope.FILE:
        return True
    both_sections = a.scope == Scope.SECTION and b.scope == Scope.SECTION
    if both_sections and _same_section(a.section, b.section):
        return True
    # What is left is range against range: lines, or a section that knows its lines. A section
    # without a range is only known by name, so it meets no line range.
    a_lines, b_lines = _lines(a), _lines(b)
    if a_lines is None or b_lines is None:
        return False
    return a_lines[0] <= b_lines[1] and b_lines[0] <= a_lines[1]


def conflicts(a: LockSpec, b: LockSpec) -> bool:
    """Whether ``a`` and ``b`` may not be held at the same moment."""
    if a.holder_id is not None and a.holder_id == b.holder_id:
        return False
    if a.mode == Mode.SHARED and b.mode == Mode.SHARED:
        return False
    return overlaps(a, b)


# ---------------------------------------------------------------------------------------------
# Input


def normalize_path(raw: object) -> str:
    """A repository path as locks store it: relative, forward slashes, no ``.``/``..`` parts.

    Backslashes are turned into forward slashes (a Windows client's ``src\\app.py`` is the same
    file as ``src/app.py`` in git; a real backslash in a tracked file name is vanishingly rare).
    Surrounding whitespace is dropped, ``./`` parts and doubled slashes are collapsed. Refused:
    anything not a string, empty, absolute (``/x``, ``C:/x``), with a ``..`` part, naming a
    directory (trailing ``/``), containing NUL or other control characters, or longer than
    ``MAX_PATH_LENGTH``.
    """
    if not isinstance(raw, str):
        raise ValidationFailed(
            f"path must be a repository path such as 'src/app.py', got {raw!r}.",
            code="bad_path",
        )
    text = raw.strip()
    if not text:
        raise ValidationFailed(
            "path is empty; give the file's path relative to the repository root, such as "
            "'src/app.py'.",
            code="bad_path",
        )
    if _CONTROL_CHARACTERS.search(text):
        raise ValidationFailed(
            f"path {raw!r} contains NUL or another control character; give the file's path as "
            "plain text, such as 'src/app.py'.",
            code="bad_path",
        )
    text = text.replace("\\", "/")
    if text.startswith("/") or _WINDOWS_DRIVE.match(text):
        raise ValidationFailed(
            f"path {raw!r} is absolute; give it relative to the repository root, such as "
            "'src/app.py' rather than '/home/me/repo/src/app.py'.",
            code="bad_path",
        )
    if text.endswith("/"):
        raise ValidationFailed(
            f"path {raw!r} names a directory; lock the files in it, one path each, such as "
            "'src/app.py'.",
            code="bad_path",
        )
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValidationFailed(
            f"path {raw!r} has a '..' part; give the path inside the repository without '..', "
            "such as 'src/app.py'.",
            code="bad_path",
        )
    if not parts:
        raise ValidationFailed(
            f"path {raw!r} names no file; give the file's path relative to the repository "
            "root, such as 'src/app.py'.",
            code="bad_path",
        )
    normalized = "/".join(parts)
    if len(normalized) > MAX_PATH_LENGTH:
        raise ValidationFailed(
            f"path is {len(normalized)} characters long; paths are limited to "
            f"{MAX_PATH_LENGTH}. Lock a shorter path.",
            code="path_too_long",
        )
    return normalized


def _line(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(
            f"{name} must be a whole line number (1-based), got {value!r}.",
            code="bad_range",
        )
    if value < 1 or value > MAX_LINE:
        raise ValidationFailed(
            f"{name} is {value}; line numbers are 1-based and at most {MAX_LINE:,}: the first "
            "line of a file is line 1.",
            code="bad_range",
        )
    return value


def _range(
    start_line: object, end_line: object, *, required: bool
) -> tuple[int | None, int | None]:
    if start_line is None and end_line is None:
        if required:
            raise ValidationFailed(
                "A 'lines' lock needs start_line and end_line (1-based, inclusive), such as "
                "start_line=10, end_line=42.",
                code="bad_range",
            )
        return None, None
    if start_line is None or end_line is None:
        raise ValidationFailed(
            f"Give both start_line and end_line, or neither (got start_line={start_line!r}, "
            f"end_line={end_line!r}). For a single line, give the same number twice.",
            code="bad_range",
        )
    start = _line(start_line, "start_line")
    end = _line(end_line, "end_line")
    if start > end:
        raise ValidationFailed(
            f"The range {start}-{end} is inverted: start_line must be ≤ end_line. Did you mean "
            f"{end}-{start}?",
            code="bad_range",
        )
    return start, end


def clean_section(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValidationFailed(
            f"section must be a symbol name such as 'AuthService.login', got {raw!r}.",
            code="bad_section",
        )
    name = raw.strip()
    if _CONTROL_CHARACTERS.search(name):
        raise ValidationFailed(
            f"section {raw!r} contains a control character; name the symbol on one line, such "
            "as 'AuthService.login'.",
            code="bad_section",
        )
    if len(name) > MAX_SECTION_LENGTH:
        raise ValidationFailed(
            f"section name is {len(name)} characters; keep it to {MAX_SECTION_LENGTH}.",
            code="bad_section",
        )
    return name


def validate_spec(
    *,
    path: object,
    scope: object = Scope.FILE,
    section: object = "",
    start_line: object = None,
    end_line: object = None,
    mode: object = Mode.EXCLUSIVE,
    holder_id: int | None = None,
) -> LockSpec:
    """A clean :class:`LockSpec`, or a ValidationFailed naming what is wrong and how to fix it.

    ``file`` takes no section and no lines; ``lines`` needs both lines (1-based, start ≤ end)
    and no section; ``section`` needs a name and takes an optional range (both ends or none).
    """
    clean_path = normalize_path(path)
    if scope not in Scope.values:
        raise ValidationFailed(
            f"Unknown scope {scope!r}; use one of {', '.join(Scope.values)}.",
            code="bad_scope",
        )
    if mode not in Mode.values:
        raise ValidationFailed(
            f"Unknown mode {mode!r}; use one of {', '.join(Mode.values)}.",
            code="bad_mode",
        )
    name = clean_section("" if section is None else section)
    if scope == Scope.FILE:
        if name or start_line is not None or end_line is not None:
            raise ValidationFailed(
                "A 'file' lock covers the whole file and takes no section or lines; use scope "
                "'section' or 'lines' to lock part of it.",
                code="bad_scope_fields",
            )
        start, end = None, None
    elif scope == Scope.LINES:
        if name:
            raise ValidationFailed(
                "A 'lines' lock takes no section name; use scope 'section' to lock a symbol "
                "(optionally with its lines).",
                code="bad_scope_fields",
            )
        start, end = _range(start_line, end_line, required=True)
    else:
        if not name:
            raise ValidationFailed(
                "A 'section' lock needs the symbol's name in 'section', such as "
                "'AuthService.login'.",
                code="bad_section",
            )
        start, end = _range(start_line, end_line, required=False)
    return LockSpec(
        path=clean_path,
        scope=str(scope),
        section=name,
        start_line=start,
        end_line=end,
        mode=str(mode),
        holder_id=holder_id,
    )
