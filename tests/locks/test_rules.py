"""The conflict rule, exhaustively on small cases, and input cleaning.

The expected overlaps below are written out by hand (not computed with the rule), for every pair
of a small set of shapes covering each scope with and without overlap; every pair is then
checked in every mode combination, for the same holder and for different holders, on the same
path and on different paths.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locks.rules import (
    MAX_LINE,
    MAX_PATH_LENGTH,
    LockSpec,
    conflicts,
    normalize_path,
    overlaps,
    validate_spec,
)
from peercode.errors import ValidationFailed

PATH = "src/auth.py"
OTHER_PATH = "src/billing.py"

SHAPES: dict[str, dict[str, object]] = {
    "F": {"scope": "file"},
    "L1-5": {"scope": "lines", "start_line": 1, "end_line": 5},
    "L5-9": {"scope": "lines", "start_line": 5, "end_line": 9},
    "L6-9": {"scope": "lines", "start_line": 6, "end_line": 9},
    "SA": {"scope": "section", "section": "AuthService"},
    "SA1-5": {"scope": "section", "section": "AuthService", "start_line": 1, "end_line": 5},
    "SA6-9": {"scope": "section", "section": "AuthService", "start_line": 6, "end_line": 9},
    "SAm": {"scope": "section", "section": "AuthService.login"},
    "SB": {"scope": "section", "section": "Billing"},
    "SB6-9": {"scope": "section", "section": "Billing", "start_line": 6, "end_line": 9},
}

# Every unordered pair that overlaps (by hand); a shape always overlaps itself.
OVERLAPPING = {
    frozenset(pair)
    for pair in [
        *(("F", other) for other in SHAPES),
        ("L1-5", "L5-9"),  # they share line 5
        ("L1-5", "SA1-5"),
        ("L5-9", "L6-9"),
        ("L5-9", "SA1-5"),  # line 5
        ("L5-9", "SA6-9"),
        ("L5-9", "SB6-9"),
        ("L6-9", "SA6-9"),
        ("L6-9", "SB6-9"),
        ("SA", "SA1-5"),  # the same section, whatever its range
        ("SA", "SA6-9"),
        ("SA1-5", "SA6-9"),
        ("SA", "SAm"),  # login is a member of AuthService
        ("SA1-5", "SAm"),
        ("SA6-9", "SAm"),
        ("SA6-9", "SB6-9"),  # different sections whose known ranges intersect
        ("SB", "SB6-9"),
    ]
}
MODES = ["exclusive", "shared"]


def spec(shape: str, *, mode: str = "exclusive", holder: int = 1, path: str = PATH) -> LockSpec:
    fields = SHAPES[shape]
    return LockSpec(
        path=path,
        scope=str(fields["scope"]),
        section=str(fields.get("section", "")),
        start_line=fields.get("start_line"),  # type: ignore[arg-type]
        end_line=fields.get("end_line"),  # type: ignore[arg-type]
        mode=mode,
        holder_id=holder,
    )


def expected_overlap(a: str, b: str) -> bool:
    return a == b or frozenset((a, b)) in OVERLAPPING


class TestConflictRuleExhaustively:
    def test_every_pair_of_shapes_overlaps_exactly_as_written(self) -> None:
        wrong = [
            (a, b)
            for a, b in itertools.product(SHAPES, repeat=2)
            if overlaps(spec(a), spec(b, holder=2)) != expected_overlap(a, b)
        ]
        assert wrong == []

    def test_every_pair_in_every_mode_and_holder_combination_conflicts_as_the_rule_says(
        self,
    ) -> None:
        wrong = []
        for a, b in itertools.product(SHAPES, repeat=2):
            for mode_a, mode_b in itertools.product(MODES, repeat=2):
                for same_holder in (True, False):
                    left = spec(a, mode=mode_a, holder=1)
                    right = spec(b, mode=mode_b, holder=1 if same_holder else 2)
                    expected = (
                        not same_holder
                        and "exclusive" in (mode_a, mode_b)
                        and expected_overlap(a, b)
                    )
                    if conflicts(left, right) != expected:
                        wrong.append((a, mode_a, b, mode_b, same_holder))
        assert wrong == []

    def test_no_pair_on_different_paths_overlaps_or_conflicts(self) -> None:
        for a, b in itertools.product(SHAPES, repeat=2):
            for mode_a, mode_b in itertools.product(MODES, repeat=2):
                left = spec(a, mode=mode_a, holder=1)
                right = spec(b, mode=mode_b, holder=2, path=OTHER_PATH)
                assert not overlaps(left, right), (a, b)
                assert not conflicts(left, right), (a, mode_a, b, mode_b)

    def test_second_exclusive_lock_on_overlapping_lines_conflicts(self) -> None:
        assert conflicts(spec("L1-5", holder=1), spec("L5-9", holder=2))

    def test_adjacent_line_ranges_do_not_conflict(self) -> None:
        assert not conflicts(spec("L1-5", holder=1), spec("L6-9", holder=2))

    def test_shared_locks_never_conflict_with_each_other(self) -> None:
        assert not conflicts(spec("F", mode="shared", holder=1), spec("F", mode="shared", holder=2))

    def test_shared_conflicts_with_exclusive_either_way(self) -> None:
        assert conflicts(spec("F", mode="shared", holder=1), spec("L1-5", holder=2))
        assert conflicts(spec("L1-5", holder=1), spec("F", mode="shared", holder=2))

    def test_the_same_holder_may_hold_overlapping_exclusive_locks(self) -> None:
        assert not conflicts(spec("F", holder=7), spec("F", holder=7))

    def test_a_section_without_a_range_meets_no_line_range(self) -> None:
        assert not overlaps(spec("SA"), spec("L1-5"))

    def test_section_names_are_members_only_at_a_separator(self) -> None:
        outer = LockSpec(path=PATH, scope="section", section="Auth", holder_id=1)
        assert overlaps(outer, LockSpec(PATH, "section", "Auth.login", holder_id=2))
        assert overlaps(outer, LockSpec(PATH, "section", "Auth::login", holder_id=2))
        assert not overlaps(outer, LockSpec(PATH, "section", "AuthService", holder_id=2))


# ---------------------------------------------------------------------------------------------
# Properties

paths = st.sampled_from(["a.py", "b.py", "src/c.py"])
lines = st.integers(min_value=1, max_value=30)


@st.composite
def specs(draw: st.DrawFn, path: st.SearchStrategy[str] = paths) -> LockSpec:
    scope = draw(st.sampled_from(["file", "section", "lines"]))
    start = end = None
    section = ""
    if scope != "file":
        with_range = scope == "lines" or draw(st.booleans())
        if with_range:
            start, end = sorted((draw(lines), draw(lines)))
    if scope == "section":
        section = draw(st.sampled_from(["A", "A.m", "A.n", "B", "B::f"]))
    return LockSpec(
        path=draw(path),
        scope=scope,
        section=section,
        start_line=start,
        end_line=end,
        mode=draw(st.sampled_from(MODES)),
        holder_id=draw(st.integers(min_value=1, max_value=3)),
    )


@given(specs(), specs())
def test_overlap_and_conflict_are_symmetric(a: LockSpec, b: LockSpec) -> None:
    assert overlaps(a, b) == overlaps(b, a)
    assert conflicts(a, b) == conflicts(b, a)


@given(specs(), specs())
def test_a_file_lock_overlaps_everything_on_its_path(a: LockSpec, b: LockSpec) -> None:
    whole = LockSpec(path=b.path, scope="file", mode=a.mode, holder_id=a.holder_id)
    assert overlaps(whole, b)


@given(specs(path=st.just("one.py")), specs(path=st.just("two.py")))
def test_different_paths_never_overlap(a: LockSpec, b: LockSpec) -> None:
    assert not overlaps(a, b)
    assert not conflicts(a, b)


@given(specs(), specs())
def test_a_conflict_needs_overlap_different_holders_and_an_exclusive_side(
    a: LockSpec, b: LockSpec
) -> None:
    if conflicts(a, b):
        assert overlaps(a, b)
        assert a.holder_id != b.holder_id
        assert "exclusive" in (a.mode, b.mode)


@given(lines, lines, lines, lines)
def test_line_ranges_overlap_exactly_when_they_share_a_line(
    s1: int, e1: int, s2: int, e2: int
) -> None:
    s1, e1 = sorted((s1, e1))
    s2, e2 = sorted((s2, e2))
    a = LockSpec(path=PATH, scope="lines", start_line=s1, end_line=e1, holder_id=1)
    b = LockSpec(path=PATH, scope="lines", start_line=s2, end_line=e2, holder_id=2)
    shared_lines = set(range(s1, e1 + 1)) & set(range(s2, e2 + 1))
    assert overlaps(a, b) == bool(shared_lines)


# ---------------------------------------------------------------------------------------------
# Paths


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("src/app.py", "src/app.py"),
        ("  src/app.py\n", "src/app.py"),
        ("./src/app.py", "src/app.py"),
        ("src//app.py", "src/app.py"),
        ("src/./app.py", "src/app.py"),
        ("src\\app.py", "src/app.py"),
        ("README", "README"),
        ("a b/ü.py", "a b/ü.py"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
    ],
)
def test_paths_are_normalized(raw: str, clean: str) -> None:
    assert normalize_path(raw) == clean


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x.py", "absolute"),
        ("C:\\repo\\x.py", "absolute"),
        ("c:/repo/x.py", "absolute"),
        ("../secret.py", "'..'"),
        ("src/../../x.py", "'..'"),
        ("src\\..\\x.py", "'..'"),
        ("", "empty"),
        ("   ", "empty"),
        ("src/", "directory"),
        (".", "names no file"),
        ("./", "directory"),
        ("a\x00b.py", "control character"),
        ("a\nb.py", "control character"),
        ("x" * (MAX_PATH_LENGTH + 1), "limited to"),
        (42, "repository path"),
        (None, "repository path"),
    ],
)
def test_bad_paths_are_refused_saying_why(raw: object, says: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        normalize_path(raw)
    assert says in excinfo.value.message
    assert excinfo.value.code in {"bad_path", "path_too_long"}


def test_a_path_of_exactly_the_limit_is_accepted() -> None:
    assert normalize_path("x" * MAX_PATH_LENGTH) == "x" * MAX_PATH_LENGTH


# ---------------------------------------------------------------------------------------------
# Specs


def test_a_valid_lines_spec_is_cleaned() -> None:
    cleaned = validate_spec(path="./a.py", scope="lines", start_line=3, end_line=3, holder_id=4)
    assert cleaned == LockSpec("a.py", "lines", "", 3, 3, "exclusive", 4)


def test_a_section_spec_may_carry_a_range_or_not() -> None:
    assert validate_spec(path="a.py", scope="section", section=" A.b ").section == "A.b"
    ranged = validate_spec(path="a.py", scope="section", section="A", start_line=2, end_line=9)
    assert (ranged.start_line, ranged.end_line) == (2, 9)


@pytest.mark.parametrize(
    ("fields", "code", "says"),
    [
        ({"scope": "lines", "start_line": 5, "end_line": 3}, "bad_range", "inverted"),
        ({"scope": "lines", "start_line": 0, "end_line": 3}, "bad_range", "1-based"),
        ({"scope": "lines", "start_line": 0, "end_line": 0}, "bad_range", "1-based"),
        ({"scope": "lines", "start_line": -2, "end_line": 3}, "bad_range", "1-based"),
        ({"scope": "lines", "start_line": 1, "end_line": MAX_LINE + 1}, "bad_range", "at most"),
        ({"scope": "lines"}, "bad_range", "needs start_line and end_line"),
        ({"scope": "lines", "start_line": 4}, "bad_range", "both"),
        ({"scope": "lines", "start_line": True, "end_line": 3}, "bad_range", "whole line"),
        ({"scope": "lines", "start_line": "1", "end_line": 3}, "bad_range", "whole line"),
        ({"scope": "lines", "start_line": 1.5, "end_line": 3}, "bad_range", "whole line"),
        (
            {"scope": "lines", "section": "A", "start_line": 1, "end_line": 3},
            "bad_scope_fields",
            "no section",
        ),
        ({"scope": "file", "start_line": 1, "end_line": 3}, "bad_scope_fields", "whole file"),
        ({"scope": "file", "section": "A"}, "bad_scope_fields", "whole file"),
        ({"scope": "section"}, "bad_section", "needs the symbol"),
        ({"scope": "section", "section": "   "}, "bad_section", "needs the symbol"),
        ({"scope": "section", "section": "A\nB"}, "bad_section", "control character"),
        ({"scope": "section", "section": "A" * 301}, "bad_section", "300"),
        ({"scope": "section", "section": 3}, "bad_section", "symbol name"),
        (
            {"scope": "section", "section": "A", "start_line": 9, "end_line": 2},
            "bad_range",
            "inverted",
        ),
        ({"scope": "folder"}, "bad_scope", "file, section, lines"),
        ({"mode": "write"}, "bad_mode", "exclusive, shared"),
    ],
)
def test_bad_specs_are_refused_saying_what_to_do(
    fields: dict[str, object], code: str, says: str
) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        validate_spec(path="a.py", **fields)  # type: ignore[arg-type]
    assert excinfo.value.code == code
    assert says in excinfo.value.message
