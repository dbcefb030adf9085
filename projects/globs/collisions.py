"""Which tasks may collide: every pair of tasks with globs that share a path, within a
bounded amount of work whatever the plan."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from projects.globs.matching import Comparison, Segment, analysed_form, literal_prefix

# What one analysis of a plan's collisions does at most, whatever the plan: steps of work (see
# Comparison), pairs of tasks and pairs of globs listed. A 5,000-task plan laid out for
# parallel work needs 554,000, 42,640 and 68,268 (bench/plan.py); one task holding 12 globs
# that are compared with every glob of that plan adds 1,400,000 steps.
MAX_COMPARISON_WORK: Final = 2_200_000
MAX_LISTED_COLLISIONS: Final = 50_000
MAX_LISTED_GLOB_PAIRS: Final = 250_000


class GlobCollision(NamedTuple):
    # A named tuple, not a dataclass: a big plan has tens of thousands, built on every
    # analysis and read back from the cache on every plan read.
    first: str
    second: str
    globs: tuple[tuple[str, str], ...]  # (a glob of first, a glob of second) that intersect


@dataclass(frozen=True)
class Collisions:
    """The colliding pairs of tasks, and whether that is all of them."""

    pairs: list[GlobCollision]
    # False when the analysis stopped at MAX_COMPARISON_WORK or MAX_LISTED_*.
    complete: bool


def overlapping_pairs(
    file_globs: Mapping[str, Sequence[str]],
    *,
    work: int = MAX_COMPARISON_WORK,
    listed: int = MAX_LISTED_COLLISIONS,
    listed_globs: int = MAX_LISTED_GLOB_PAIRS,
) -> Collisions:
    """Pairs of tasks with at least one pair of globs that some path matches both.

    Pairs come in plan order (``first`` is listed before ``second`` in ``file_globs``), each
    with every intersecting pair of their globs, in the order the tasks list them. Globs of
    one task are never compared with each other.

    Globs that mean the same are compared once, whichever tasks hold them, and only with the
    few globs they could intersect (:func:`_intersecting_globs`). What remains is walking from
    each task's globs to the later tasks holding an intersecting one, which costs the size of
    the answer.

    The work is bounded whatever the plan: comparing globs stops after ``work`` steps (see
    :class:`Comparison`), and the answer lists at most ``listed`` pairs of tasks and
    ``listed_globs`` pairs of globs. A plan that needs more gets what was found within these,
    in plan order, and ``complete`` False.
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
            segments = analysed_form(text)
            glob_id = glob_ids.get(segments)
            if glob_id is None:
                glob_id = glob_ids[segments] = len(holders)
                holders.append([])
            holders[glob_id].append(task * width + position)
            ids.append(glob_id)
        task_globs.append(ids)
    partners, complete = _intersecting_globs(list(glob_ids), work)

    shared = _SharedGlobPairs(texts)
    collisions: list[GlobCollision] = []
    room = listed_globs
    for task, ids in enumerate(task_globs):
        # The later tasks colliding with this one -> codes of (this glob's position, theirs).
        found: dict[int, list[int]] = {}
        later = (task + 1) * width
        cut = False  # whether this task's collisions went past what may be listed
        for position, glob_id in enumerate(ids):
            base = position * width
            for partner in partners[glob_id]:
                held = holders[partner]
                start = bisect_left(held, later)
                end = min(len(held), start + room)
                room -= end - start
                cut = cut or end < len(held)
                for holder in held[start:end]:
                    other, their_position = divmod(holder, width)
                    codes = found.get(other)
                    if codes is None:
                        found[other] = [base + their_position]
                    else:
                        codes.append(base + their_position)
        others = sorted(found)
        if len(others) > listed - len(collisions):
            others, cut = others[: listed - len(collisions)], True
        first = keys[task]
        for other in others:
            collisions.append(
                GlobCollision(first, keys[other], shared.globs(task, other, found[other], width))
            )
        if cut:
            return Collisions(collisions, complete=False)
    return Collisions(collisions, complete)


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


def _intersecting_globs(
    globs: list[tuple[Segment, ...]], work: int
) -> tuple[list[list[int]], bool]:
    """For each glob (by index), the indices of the globs it intersects, itself included; and
    whether every pair that might intersect was compared within ``work`` (see
    :class:`Comparison`).

    Comparing every pair would be quadratic, so globs are indexed by their literal leading
    segments: two globs can only intersect when one's literal prefix is a prefix of the
    other's (otherwise they disagree on a literal segment). Each glob is compared only with
    the globs filed under its own prefix and under that prefix's ancestors: in effect a trie
    over literal segments, held as a dict from prefix tuples to globs.
    """
    by_prefix: dict[tuple[str, ...], list[int]] = {}
    for index, segments in enumerate(globs):
        by_prefix.setdefault(literal_prefix(segments), []).append(index)

    def candidates() -> Iterator[tuple[int, int, int]]:
        """Pairs that might intersect, with the length of the literal prefix they share."""
        for prefix, bucket in by_prefix.items():
            for position, near in enumerate(bucket):
                for far in bucket[position + 1 :]:
                    yield near, far, len(prefix)
            for length in range(len(prefix)):
                for near in by_prefix.get(prefix[:length], ()):
                    for far in bucket:
                        yield near, far, length

    # Every glob intersects itself: each of its segment patterns matches some segment.
    partners: list[list[int]] = [[index] for index in range(len(globs))]
    comparison = Comparison(work)
    for near, far, shared in candidates():
        if comparison.left < 0:
            return partners, False
        if comparison.meets(globs[near][shared:], globs[far][shared:]):
            partners[near].append(far)
            partners[far].append(near)
    return partners, True
