from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.globs import (
    MAX_GLOB_LENGTH,
    MAX_GLOB_SEGMENTS,
    MAX_GLOB_WILDCARDS,
    GlobCollision,
    any_intersect,
    glob_matches,
    globs_intersect,
    overlapping_pairs,
)


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
        a = "*a" * 15 + "*b"
        b = "a" * 60 + "*c"
        assert not globs_intersect(a, b)
        assert globs_intersect(a, "a" * 60 + "*b")
        assert not globs_intersect("**/" * 8 + "x", "y/" * 14 + "z")


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
        assert overlapping_pairs(plan).pairs == [
            GlobCollision("B", "A", (("src/api/x.py", "src/**"), ("docs/*.md", "docs/intro.md"))),
            GlobCollision("B", "D", (("docs/*.md", "docs/"),)),
            GlobCollision("A", "D", (("docs/intro.md", "docs/"),)),
        ]

    def test_tasks_sharing_the_same_glob_collide(self) -> None:
        plan = {"A": ["src/x.py"], "B": ["src/y.py"], "C": ["src/x.py"], "D": ["./src/x.py"]}
        assert [(c.first, c.second) for c in overlapping_pairs(plan).pairs] == [
            ("A", "C"),
            ("A", "D"),
            ("C", "D"),
        ]

    def test_globs_of_one_task_never_collide_with_each_other(self) -> None:
        assert overlapping_pairs({"A": ["src/**", "src/x.py", "src/**"]}).pairs == []

    def test_plans_without_globs(self) -> None:
        assert overlapping_pairs({}).pairs == []
        assert overlapping_pairs({"A": [], "B": []}).pairs == []


class TestTheWorkIsBounded:
    def test_two_globs_within_the_limits_are_decided_within_a_bounded_number_of_steps(
        self,
    ) -> None:
        # Before the limits, two 500-character wildcard-heavy globs took a quarter of a
        # million steps. Within them a pair takes at most (S + 1)² segment comparisons, each
        # 16 steps at most besides one per two characters, and the characters add up to at
        # most (S + 1) * L.
        segments, length = MAX_GLOB_SEGMENTS, MAX_GLOB_LENGTH
        bound = 16 + (segments + 1) ** 2 * 16 + (segments + 1) * length
        wild = "/".join(["**", *(f"*{k}?a*" for k in range(MAX_GLOB_WILDCARDS // 3))])
        deep = "/".join([wild, *("d" * 30 for _ in range(segments - 6))])[:length]
        literal = "/".join("d" * 30 for _ in range(segments))[:length]
        # A piece tried at every place of a path of the same segment, failing at its end.
        piece = "/".join(["**", *["a"] * (segments // 2 - 2), "b", "**"])
        path = "/".join(["a"] * segments)
        for a, b in [(deep, literal), (deep, deep), (literal, deep), (piece, path)]:
            assert any_intersect([a], [b], work=bound) is not None

    def test_any_intersect_says_when_it_could_not_settle_within_its_work(self) -> None:
        paths = [f"docs/{index}.md" for index in range(100)]
        assert any_intersect(paths, ["src/**"], work=10) is None
        assert any_intersect(paths, ["src/**"], work=10_000) is False
        assert any_intersect(paths, ["docs/**"], work=10) is True

    def test_a_plan_with_more_to_compare_than_the_limit_gets_what_was_found(self) -> None:
        plan = {f"T{index}": [f"src/*{index}x*/**"] for index in range(40)}
        full = overlapping_pairs(plan)
        assert full.complete
        assert len(full.pairs) == 40 * 39 // 2
        cut = overlapping_pairs(plan, work=100)
        assert not cut.complete
        assert 0 < len(cut.pairs) < len(full.pairs)
        assert set(cut.pairs) < set(full.pairs)

    def test_the_answer_stops_at_the_pairs_of_tasks_that_may_be_listed(self) -> None:
        plan = {f"T{index}": ["**"] for index in range(30)}
        full = overlapping_pairs(plan)
        assert full.complete
        cut = overlapping_pairs(plan, listed=40)
        assert not cut.complete
        assert cut.pairs == full.pairs[:40]

    def test_the_answer_stops_at_the_pairs_of_globs_that_may_be_listed(self) -> None:
        # T0 collides with 29 later tasks by 4 pairs of globs each: 116 pairs.
        plan = {f"T{index}": ["**", "src/**"] for index in range(30)}
        full = overlapping_pairs(plan)
        assert full.complete
        cut = overlapping_pairs(plan, listed_globs=150)
        assert not cut.complete
        assert sum(len(collision.globs) for collision in cut.pairs) == 150
        first_task = [collision for collision in full.pairs if collision.first == "T0"]
        assert cut.pairs[:29] == first_task
        for partial in cut.pairs[29:]:
            assert partial.first == "T1"
            (whole,) = [c for c in full.pairs if (c.first, c.second) == ("T1", partial.second)]
            assert set(partial.globs) <= set(whole.globs)


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


def reference_intersect(a: str, b: str) -> bool:
    """An independent oracle: a search over pairs of positions, one in each glob, where a
    star may be skipped or take one item of the other side, at both levels."""

    def search(x: Any, y: Any, is_star: Any, meets: Any) -> bool:
        seen: set[tuple[int, int]] = set()
        stack = [(0, 0)]
        while stack:
            i, j = stack.pop()
            if (i, j) in seen:
                continue
            seen.add((i, j))
            if (i, j) == (len(x), len(y)):
                return True
            x_star = i < len(x) and is_star(x[i])
            y_star = j < len(y) and is_star(y[j])
            if x_star:
                stack.append((i + 1, j))
            if y_star:
                stack.append((i, j + 1))
            if i == len(x) or j == len(y) or (x_star and y_star):
                continue
            if x_star or y_star or meets(x[i], y[j]):
                stack.append((i if x_star else i + 1, j if y_star else j + 1))
        return False

    def segments(glob: str) -> list[str]:
        parts = [part for part in glob.split("/") if part not in ("", ".")]
        return [*parts, "**"] if glob.endswith("/") else parts

    def chars_meet(x: str, y: str) -> bool:
        return search(x, y, lambda c: c == "*", lambda c, d: c == d or "?" in (c, d))

    return search(segments(a), segments(b), lambda s: s == "**", chars_meet)


deeper_globs = st.lists(
    st.one_of(st.just("**"), st.text(alphabet=LETTERS + "*?", min_size=1, max_size=5)),
    min_size=1,
    max_size=6,
).map("/".join)


class TestGlobProperties:
    @settings(max_examples=400, deadline=None)
    @given(deeper_globs, deeper_globs)
    def test_intersection_agrees_with_a_search_over_both_globs(self, a: str, b: str) -> None:
        assert globs_intersect(a, b) == reference_intersect(a, b)

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

    @settings(max_examples=200)
    @given(
        st.lists(st.text(alphabet=LETTERS + "*?", min_size=1, max_size=12), min_size=1, max_size=3),
        paths,
    )
    def test_a_glob_over_the_limits_still_matches_every_path_it_did(
        self, segments: list[str], path: str
    ) -> None:
        # Stored before the limits, it is read as a wider glob within them.
        glob = "/".join(segments) + "/" + "*a?" * (MAX_GLOB_WILDCARDS // 2)
        if reference_match(glob, path):
            assert glob_matches(glob, path)

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
        assert overlapping_pairs(file_globs).pairs == expected
