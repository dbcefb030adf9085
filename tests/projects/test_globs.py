from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.globs import GlobCollision, glob_matches, globs_intersect, overlapping_pairs


class TestGlobsIntersect:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("src/**", "src/api/x.py"),
            ("a/**/b", "a/b"),
            ("a/**/b", "a/x/y/b"),
            ("*.py", "x.py"),
            ("a/*/c", "a/b/*"),
            ("src/api/x.py", "src/api/x.py"),
            ("a?", "?b"),
            ("a?c", "abc"),
            ("?", "x"),
            ("*a*", "*b*"),
            ("x*y", "*"),
            ("dir/", "dir/x"),
            ("dir/", "dir/sub/deep/file.txt"),
            ("dir/", "dir/**"),
            ("**", "anything/at/all"),
            ("**/test_*.py", "tests/api/*.py"),
            ("**/x", "y/**"),
            ("src/**/views.py", "src/*/views.py"),
            ("./src//api/x.py", "src/api/x.py"),
            ("a/**/b/**/c", "a/x/b/c"),
        ],
    )
    def test_globs_that_share_a_path_intersect(self, a: str, b: str) -> None:
        assert globs_intersect(a, b)
        assert globs_intersect(b, a)

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("src/*.py", "src/api/x.py"),
            ("a/b", "a/c"),
            ("a?c", "ab"),
            ("a?", "abc"),
            ("??", "?"),
            ("a*", "b*"),
            ("*a", "*b"),
            ("*.py", "*.js"),
            ("a/*/c", "a/c"),
            ("dir/", "other/x"),
            ("dir/", "directory/x"),
            ("src/**/views.py", "src/api/models.py"),
            ("a/**/b/**/c", "a/c"),
            ("a/**/b", "a/b/c"),
            ("docs/*.md", "docs/api/*.md"),
        ],
    )
    def test_globs_with_no_common_path_do_not_intersect(self, a: str, b: str) -> None:
        assert not globs_intersect(a, b)
        assert not globs_intersect(b, a)

    def test_many_stars_are_decided_without_exponential_backtracking(self) -> None:
        # A backtracking matcher explores every way to split the text among the stars.
        a = "*a" * 30 + "*b"
        b = "a" * 60 + "*c"
        assert not globs_intersect(a, b)
        assert globs_intersect(a, "a" * 60 + "*b")
        assert not globs_intersect("**/" * 40 + "x", "y/" * 40 + "z")


class TestGlobMatches:
    @pytest.mark.parametrize(
        ("glob", "path", "expected"),
        [
            ("src/**", "src/api/x.py", True),
            ("src/**", "src", True),
            ("src/*.py", "src/x.py", True),
            ("src/*.py", "src/api/x.py", False),
            ("**/*.py", "x.py", True),
            ("**/*.py", "a/b/c/x.py", True),
            ("?.md", "a.md", True),
            ("?.md", "ab.md", False),
            ("dir/", "dir/x", True),
            ("dir/", "dirx/y", False),
            ("a/b", "a/b", True),
            ("a/b", "a/b/c", False),
        ],
    )
    def test_concrete_paths(self, glob: str, path: str, expected: bool) -> None:
        assert glob_matches(glob, path) is expected

    def test_wildcard_characters_in_a_path_are_literal(self) -> None:
        assert glob_matches("a/*", "a/*")
        assert not glob_matches("a/x", "a/*")
        assert globs_intersect("a/x", "a/*")


class TestOverlappingPairs:
    def test_pairs_come_in_plan_order_with_every_intersecting_glob_pair(self) -> None:
        plan = {
            "B": ["src/api/x.py", "docs/*.md"],
            "A": ["src/**", "docs/intro.md"],
            "C": ["web/app.js"],
            "D": ["docs/"],
        }
        assert overlapping_pairs(plan) == [
            GlobCollision("B", "A", (("src/api/x.py", "src/**"), ("docs/*.md", "docs/intro.md"))),
            GlobCollision("B", "D", (("docs/*.md", "docs/"),)),
            GlobCollision("A", "D", (("docs/intro.md", "docs/"),)),
        ]

    def test_tasks_sharing_the_same_glob_collide(self) -> None:
        plan = {"A": ["src/x.py"], "B": ["src/y.py"], "C": ["src/x.py"], "D": ["./src/x.py"]}
        assert [(c.first, c.second) for c in overlapping_pairs(plan)] == [
            ("A", "C"),
            ("A", "D"),
            ("C", "D"),
        ]

    def test_globs_of_one_task_never_collide_with_each_other(self) -> None:
        assert overlapping_pairs({"A": ["src/**", "src/x.py", "src/**"]}) == []

    def test_plans_without_globs(self) -> None:
        assert overlapping_pairs({}) == []
        assert overlapping_pairs({"A": [], "B": []}) == []


# Properties ----------------------------------------------------------------------------------
# A small alphabet makes collisions between random globs likely enough to be interesting.

LETTERS = "ab"
segment_patterns = st.text(alphabet=LETTERS + "*?", min_size=1, max_size=3)
glob_segments = st.one_of(st.just("**"), segment_patterns)
globs = st.lists(glob_segments, min_size=1, max_size=3).map("/".join)
literal_segments = st.text(alphabet=LETTERS, min_size=1, max_size=3)
paths = st.lists(literal_segments, min_size=0, max_size=4).map("/".join)


def reference_match(glob: str, path: str) -> bool:
    """An independent oracle: the glob as a regular expression over '/'-prefixed segments."""
    pattern = ""
    for segment in glob.split("/"):
        if segment == "**":
            pattern += "(?:/[^/]+)*"
        else:
            pattern += "/" + "".join(
                "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment
            )
    subject = "".join("/" + part for part in path.split("/") if part)
    return re.fullmatch(pattern, subject) is not None


def small_paths(max_segments: int, max_length: int) -> list[str]:
    """Every path over the alphabet up to the given size, the empty path included."""
    names = [
        "".join(chars)
        for length in range(1, max_length + 1)
        for chars in itertools.product(LETTERS, repeat=length)
    ]
    return [
        "/".join(parts)
        for count in range(max_segments + 1)
        for parts in itertools.product(names, repeat=count)
    ]


# Two globs of at most two segments of at most two characters: if some path matches both,
# one of at most two segments of at most four letters does (see the test below).
SMALL_PATHS = small_paths(max_segments=2, max_length=4)
small_globs = st.lists(
    st.one_of(st.just("**"), st.text(alphabet=LETTERS + "*?", min_size=1, max_size=2)),
    min_size=1,
    max_size=2,
).map("/".join)


class TestGlobProperties:
    @given(globs, globs)
    def test_intersection_is_symmetric(self, a: str, b: str) -> None:
        assert globs_intersect(a, b) == globs_intersect(b, a)

    @given(globs)
    def test_every_glob_intersects_itself(self, glob: str) -> None:
        assert globs_intersect(glob, glob)

    @given(paths)
    def test_a_plain_path_intersects_and_matches_itself(self, path: str) -> None:
        assert globs_intersect(path, path)
        assert glob_matches(path, path)

    @given(globs, paths)
    def test_glob_matches_agrees_with_a_regular_expression(self, glob: str, path: str) -> None:
        assert glob_matches(glob, path) == reference_match(glob, path)

    @given(globs, paths)
    def test_matching_a_path_is_intersecting_with_it(self, glob: str, path: str) -> None:
        assert glob_matches(glob, path) == globs_intersect(glob, path)

    @given(globs, globs, paths)
    def test_a_path_matching_both_globs_means_they_intersect(
        self, a: str, b: str, path: str
    ) -> None:
        if glob_matches(a, path) and glob_matches(b, path):
            assert globs_intersect(a, b)

    @settings(max_examples=60, deadline=None)
    @given(small_globs, small_globs)
    def test_intersection_is_exact_on_small_globs(self, a: str, b: str) -> None:
        # A shortest common path needs no segment that both sides' '**' could swallow, so it
        # has at most two segments (each glob has at most two, and a glob without '**' fixes
        # the count); and within a segment, only characters consumed by a literal or '?' on
        # some side, four at most, or one if both patterns are all stars. Searching every
        # such path is therefore a complete oracle.
        witness = any(reference_match(a, p) and reference_match(b, p) for p in SMALL_PATHS)
        assert globs_intersect(a, b) == witness

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.lists(globs, max_size=3), max_size=8))
    def test_overlapping_pairs_equals_comparing_every_pair(self, plan: list[list[str]]) -> None:
        file_globs = {f"T{index}": task_globs for index, task_globs in enumerate(plan)}
        keys = list(file_globs)
        expected = []
        for i, j in itertools.combinations(range(len(keys)), 2):
            pairs = tuple(
                (a, b)
                for a in file_globs[keys[i]]
                for b in file_globs[keys[j]]
                if globs_intersect(a, b)
            )
            if pairs:
                expected.append(GlobCollision(keys[i], keys[j], pairs))
        assert overlapping_pairs(file_globs) == expected
