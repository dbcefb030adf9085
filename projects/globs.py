"""Which tasks may touch the same files: intersection of repository path globs.

A glob is repository-relative and '/'-separated. Within one segment ``*`` matches any run of
characters (possibly none) and ``?`` exactly one; a segment that is exactly ``**`` matches zero
or more whole segments; everything else is literal (there are no ``[...]`` classes or escapes).
A trailing ``/`` names a directory and means everything under it (``dir/`` is ``dir/**``).
Empty and ``.`` segments are ignored, so ``./src//api`` is ``src/api``.

Two globs *intersect* when some path matches both. The test is exact, not a heuristic: a
dynamic programme over segments, where ``**`` is a star over segments, and inside it one over
characters for two patterns that may both hold wildcards. Every state pair is visited at most
once, so the cost is polynomial in the globs' lengths.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# A parsed segment: a ``str`` is literal text (a path's segments are always literal, even if
# they contain '*'); a tuple holds one character per item, where the items "*" and "?" are
# wildcards; GLOBSTAR is a ``**`` segment.
Segment = str | tuple[str, ...] | None
GLOBSTAR: Final = None


@dataclass(frozen=True)
class GlobCollision:
    first: str
    second: str
    globs: tuple[tuple[str, str], ...]  # (a glob of first, a glob of second) that intersect


def parse_glob(glob: str) -> tuple[Segment, ...]:
    """The glob's segments, normalised: empty and '.' segments dropped, runs of '*' and of
    '**' segments collapsed, a trailing '/' turned into a final '**'."""
    segments: list[Segment] = []
    for part in glob.split("/"):
        if part in ("", "."):
            continue
        if part == "**":
            if not segments or segments[-1] is not GLOBSTAR:
                segments.append(GLOBSTAR)
        elif "*" in part or "?" in part:
            chars: list[str] = []
            for char in part:
                if not (char == "*" and chars and chars[-1] == "*"):
                    chars.append(char)
            segments.append(tuple(chars))
        else:
            segments.append(part)
    if glob.endswith("/") and (not segments or segments[-1] is not GLOBSTAR):
        segments.append(GLOBSTAR)
    return tuple(segments)


def parse_path(path: str) -> tuple[str, ...]:
    """A concrete path's segments, every one literal."""
    return tuple(part for part in path.split("/") if part not in ("", "."))


def _wildcard_matches(pattern: tuple[str, ...], text: str) -> bool:
    """Whether a one-segment wildcard pattern matches literal text.

    The classic greedy scan that backtracks only to the last '*': O(len(pattern) * len(text))
    at worst, never exponential.
    """
    i = j = 0
    star = -1
    mark = 0
    while j < len(text):
        if i < len(pattern) and pattern[i] == "*":
            star, mark = i, j
            i += 1
        elif i < len(pattern) and (pattern[i] == "?" or pattern[i] == text[j]):
            i += 1
            j += 1
        elif star >= 0:
            i = star + 1
            mark += 1
            j = mark
        else:
            return False
    while i < len(pattern) and pattern[i] == "*":
        i += 1
    return i == len(pattern)


def _wildcards_intersect(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some string matches both one-segment patterns.

    A state (i, j) means a common prefix has been produced with ``a`` at i and ``b`` at j. A
    '*' may end (skip it), or both sides consume one more character: a '*' stays put, a '?'
    or a literal advances, and two literals must agree. Characters are unbounded, so a
    wildcard can always agree with anything. Two stars consuming together changes nothing, so
    that move is left out and every move makes progress: the states form a DAG.
    """
    end = (len(a), len(b))
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        if state == end:
            return True
        seen.add(state)
        i, j = state
        x = a[i] if i < end[0] else None
        y = b[j] if j < end[1] else None
        if x == "*":
            stack.append((i + 1, j))
        if y == "*":
            stack.append((i, j + 1))
        if x is None or y is None or (x == "*" and y == "*"):
            continue
        if x in ("*", "?") or y in ("*", "?") or x == y:
            stack.append((i if x == "*" else i + 1, j if y == "*" else j + 1))
    return False


def segments_intersect(x: Segment, y: Segment) -> bool:
    """Whether some single path segment matches both (neither may be GLOBSTAR)."""
    if isinstance(x, str):
        if isinstance(y, str):
            return x == y
        assert y is not None
        return _wildcard_matches(y, x)
    assert x is not None
    if isinstance(y, str):
        return _wildcard_matches(x, y)
    assert y is not None
    return _wildcards_intersect(x, y)


def _sequences_intersect(
    a: tuple[Segment, ...],
    b: tuple[Segment, ...],
    segment_test: Callable[[Segment, Segment], bool],
) -> bool:
    """Whether some path matches both segment sequences.

    The same construction as :func:`_wildcards_intersect`, one level up: ``**`` is a star over
    whole segments, and two ordinary segments can consume the same path segment when
    ``segment_test`` says some segment matches both.
    """
    end = (len(a), len(b))
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        if state == end:
            return True
        seen.add(state)
        i, j = state
        x_ends, y_ends = i == end[0], j == end[1]
        x = None if x_ends else a[i]
        y = None if y_ends else b[j]
        x_star = not x_ends and x is GLOBSTAR
        y_star = not y_ends and y is GLOBSTAR
        if x_star:
            stack.append((i + 1, j))
        if y_star:
            stack.append((i, j + 1))
        if x_ends or y_ends or (x_star and y_star):
            continue
        # A '**' can always take the one segment the other side needs: every non-empty
        # segment pattern matches some segment.
        if x_star or y_star or segment_test(x, y):
            stack.append((i if x_star else i + 1, j if y_star else j + 1))
    return False


def globs_intersect(a: str, b: str) -> bool:
    """Whether some repository path matches both globs."""
    return _sequences_intersect(parse_glob(a), parse_glob(b), segments_intersect)


def glob_matches(glob: str, path: str) -> bool:
    """Whether a concrete repository path matches the glob.

    The path's segments are literal: ``glob_matches(g, p)`` equals ``globs_intersect(g, p)``
    for every path ``p`` without '*' or '?'.
    """
    return _sequences_intersect(parse_glob(glob), parse_path(path), segments_intersect)


def _literal_prefix(segments: tuple[Segment, ...]) -> tuple[str, ...]:
    prefix: list[str] = []
    for segment in segments:
        if not isinstance(segment, str):
            break
        prefix.append(segment)
    return tuple(prefix)


def overlapping_pairs(file_globs: Mapping[str, Sequence[str]]) -> list[GlobCollision]:
    """Pairs of tasks with at least one pair of globs that some path matches both.

    Pairs come in plan order (``first`` is listed before ``second`` in ``file_globs``), each
    with every intersecting pair of their globs, in the order the tasks list them. Globs of
    one task are never compared with each other.

    Globs that mean the same are compared once, whichever tasks hold them, and only with the
    few globs they could intersect (:func:`_intersecting_globs`). What remains is walking from
    each task's globs to the later tasks holding an intersecting one, which costs the size of
    the answer.
    """
    keys = list(file_globs)
    texts = [file_globs[key] for key in keys]
    # A task's glob is packed into one int, task * width + position: ordered by task, cheap to
    # store and to compare.
    width = max([1, *map(len, texts)])
    glob_ids: dict[tuple[Segment, ...], int] = {}
    task_globs: list[list[int]] = []
    holders: list[list[int]] = []  # for each distinct glob, the packed globs that hold it
    for task, task_texts in enumerate(texts):
        ids: list[int] = []
        for position, text in enumerate(task_texts):
            segments = parse_glob(text)
            glob_id = glob_ids.get(segments)
            if glob_id is None:
                glob_id = glob_ids[segments] = len(holders)
                holders.append([])
            holders[glob_id].append(task * width + position)
            ids.append(glob_id)
        task_globs.append(ids)
    partners = _intersecting_globs(list(glob_ids))

    shared = _SharedGlobPairs(texts)
    collisions: list[GlobCollision] = []
    for task, ids in enumerate(task_globs):
        # The later tasks colliding with this one -> codes of (this glob's position, theirs).
        found: dict[int, list[int]] = {}
        later = (task + 1) * width
        for position, glob_id in enumerate(ids):
            base = position * width
            for partner in partners[glob_id]:
                held = holders[partner]
                for holder in held[bisect_left(held, later) :]:
                    other, their_position = divmod(holder, width)
                    codes = found.get(other)
                    if codes is None:
                        found[other] = [base + their_position]
                    else:
                        codes.append(base + their_position)
        first = keys[task]
        for other in sorted(found):
            collisions.append(
                GlobCollision(first, keys[other], shared.globs(task, other, found[other], width))
            )
    return collisions


class _SharedGlobPairs:
    """The ``globs`` tuples of collisions, built once per distinct content and then shared.

    Tens of thousands of collisions repeat the same few thousand combinations of glob texts;
    sharing their tuples spares the garbage collector fresh ones to walk for each collision.
    """

    def __init__(self, texts: list[Sequence[str]]) -> None:
        ids: dict[str, int] = {}
        self.text_ids = [[ids.setdefault(text, len(ids)) for text in task] for task in texts]
        self.texts = list(ids)
        self.span = len(self.texts)
        self.pairs: dict[int, tuple[str, str]] = {}
        self.combinations: dict[int | tuple[int, ...], tuple[tuple[str, str], ...]] = {}

    def globs(
        self, first: int, second: int, codes: list[int], width: int
    ) -> tuple[tuple[str, str], ...]:
        """The glob pairs for position codes ``mine * width + theirs`` of two tasks."""
        own, theirs, span = self.text_ids[first], self.text_ids[second], self.span
        key: int | tuple[int, ...]
        if len(codes) == 1:
            key = own[codes[0] // width] * span + theirs[codes[0] % width]
        else:
            codes.sort()
            key = tuple([own[code // width] * span + theirs[code % width] for code in codes])
        combination = self.combinations.get(key)
        if combination is None:
            pairs = key if isinstance(key, tuple) else (key,)
            combination = self.combinations[key] = tuple([self._pair(pair) for pair in pairs])
        return combination

    def _pair(self, pair: int) -> tuple[str, str]:
        texts = self.pairs.get(pair)
        if texts is None:
            texts = self.pairs[pair] = (self.texts[pair // self.span], self.texts[pair % self.span])
        return texts


def _intersecting_globs(globs: list[tuple[Segment, ...]]) -> list[list[int]]:
    """For each glob (by index), the indices of the globs it intersects, itself included.

    Comparing every pair would be quadratic, so globs are indexed by their literal leading
    segments: two globs can only intersect when one's literal prefix is a prefix of the
    other's (otherwise they disagree on a literal segment). Each glob is compared only with
    the globs filed under its own prefix and under that prefix's ancestors: in effect a trie
    over literal segments, held as a dict from prefix tuples to globs.
    """
    by_prefix: dict[tuple[str, ...], list[int]] = {}
    for index, segments in enumerate(globs):
        by_prefix.setdefault(_literal_prefix(segments), []).append(index)

    segment_memo: dict[tuple[Segment, Segment], bool] = {}

    def segment_test(x: Segment, y: Segment) -> bool:
        known = segment_memo.get((x, y))
        if known is None:
            known = segment_memo[(x, y)] = segments_intersect(x, y)
        return known

    def meets(near: tuple[Segment, ...], far: tuple[Segment, ...]) -> bool:
        # Cheap verdicts first: a lone '**' meets anything, and two globs whose last segments
        # are both ordinary must agree on the path's last segment.
        if near == (GLOBSTAR,) or far == (GLOBSTAR,):
            return True
        if (
            near
            and far
            and near[-1] is not GLOBSTAR
            and far[-1] is not GLOBSTAR
            and not segment_test(near[-1], far[-1])
        ):
            return False
        return _sequences_intersect(near, far, segment_test)

    # Every glob intersects itself: each of its segment patterns matches some segment.
    partners: list[list[int]] = [[index] for index in range(len(globs))]
    for prefix, bucket in by_prefix.items():
        shared = len(prefix)
        for position, near in enumerate(bucket):
            tail = globs[near][shared:]
            for far in bucket[position + 1 :]:
                if meets(tail, globs[far][shared:]):
                    partners[near].append(far)
                    partners[far].append(near)
        for length in range(shared):
            for near in by_prefix.get(prefix[:length], ()):
                tail = globs[near][length:]
                for far in bucket:
                    if meets(tail, globs[far][length:]):
                        partners[near].append(far)
                        partners[far].append(near)
    return partners
