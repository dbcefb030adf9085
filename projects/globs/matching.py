"""Whether globs share a path: parsing, and the two rules that decide it (see the package's
docstring), with their cost bounded by the limits and counted when a caller needs a budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple

from projects.globs.limits import MAX_GLOB_LENGTH, MAX_GLOB_SEGMENTS, size_problem

_STAR_RUNS = re.compile(r"\*\*+")
_MEMO_SIZE = 1 << 16


class Wildcards(NamedTuple):
    """A segment pattern holding '*' (runs collapsed to one) or '?'. Its text in a named
    tuple, not a tuple of characters: it is hashed on every memo lookup, and a string keeps
    its hash."""

    text: str


# A parsed segment: a ``str`` is literal text (a path's segments are always literal, even if
# they contain '*'); Wildcards are a pattern; GLOBSTAR is a ``**`` segment.
Segment = str | Wildcards | None
GLOBSTAR: Final = None


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
            segments.append(Wildcards(_STAR_RUNS.sub("*", part)))
        else:
            segments.append(part)
    if glob.endswith("/") and (not segments or segments[-1] is not GLOBSTAR):
        segments.append(GLOBSTAR)
    return tuple(segments)


def parse_path(path: str) -> tuple[str, ...]:
    """A concrete path's segments, every one literal."""
    return tuple(part for part in path.split("/") if part not in ("", "."))


@lru_cache(maxsize=_MEMO_SIZE)
def analysed_form(glob: str) -> tuple[Segment, ...]:
    """The glob as it is compared: parsed, or, for a glob over the limits (stored before they
    existed), a wider glob within them.

    Widening keeps the first MAX_GLOB_LENGTH characters' whole segments (up to
    MAX_GLOB_SEGMENTS - 1) and puts '**' for the rest, and turns everything between the first
    and the last '*' of a segment into one '*' (``*a*a*a*x`` becomes ``*x``). Should that not
    be enough, what remains is the literal leading directories followed by '**'. The wider
    glob matches every path the glob did, so the analysis may report a collision that is not
    there but never misses one, and it costs what a glob within the limits costs.
    """
    if size_problem(glob) is None:
        return parse_glob(glob)
    parts = glob[: MAX_GLOB_LENGTH + 1].split("/")
    if len(glob) > MAX_GLOB_LENGTH or len(parts) > MAX_GLOB_SEGMENTS:
        # The last part kept may have been cut short.
        parts = [*parts[: min(len(parts) - 1, MAX_GLOB_SEGMENTS - 1)], "**"]
    wider = "/".join(
        part
        if part.count("*") < 2 or part == "**"
        else part[: part.index("*") + 1] + part[part.rindex("*") + 1 :]
        for part in parts
    )
    if size_problem(wider) is None:
        return parse_glob(wider)
    return (*literal_prefix(parse_glob(wider))[: MAX_GLOB_SEGMENTS - 1], GLOBSTAR)


def literal_prefix(segments: tuple[Segment, ...]) -> tuple[str, ...]:
    prefix: list[str] = []
    for segment in segments:
        if not isinstance(segment, str):
            break
        prefix.append(segment)
    return tuple(prefix)


# Deciding intersection ----------------------------------------------------------------------


def _ends_agree(
    a: Sequence[Any], b: Sequence[Any], star: object, agree: Callable[[Any, Any], bool]
) -> bool:
    """For two patterns that both hold ``star``: whether some sequence matches both. Exactly
    when their tails (after the last star, read from the end) and their heads (up to the
    first) agree item by item, as far as the shorter of each goes."""
    tail_a = a[len(a) - a[::-1].index(star) :]
    tail_b = b[len(b) - b[::-1].index(star) :]
    return all(map(agree, reversed(tail_a), reversed(tail_b))) and all(
        map(agree, a[: a.index(star)], b[: b.index(star)])
    )


def _fixed_meets(
    pattern: Sequence[Any],
    fixed: Sequence[Any],
    star: object,
    agree: Callable[[Any, Any], bool],
    middle_meets: Callable[[Any, Any], bool],
) -> bool:
    """Whether some sequence matches both ``pattern`` and ``fixed``, which holds no star.

    The fixed side must be long enough for the pattern's non-star items, begin with the
    pattern's head and end with its tail; between them, ``middle_meets`` fits the pattern's
    middle (first star to last) when there is more than one star.
    """
    if star not in pattern:
        return len(pattern) == len(fixed) and all(map(agree, reversed(pattern), reversed(fixed)))
    first = pattern.index(star)
    last = len(pattern) - 1 - pattern[::-1].index(star)
    tail = pattern[last + 1 :]
    if len(fixed) < len(pattern) - pattern.count(star):
        return False
    if not (
        all(map(agree, reversed(tail), reversed(fixed))) and all(map(agree, pattern, fixed[:first]))
    ):
        return False
    return first == last or middle_meets(
        pattern[first : last + 1], fixed[first : len(fixed) - len(tail)]
    )


def _shift_and(length: int, stars: int, accepted: Iterable[int]) -> bool:
    """Whether a pattern of ``length`` items, with stars at the set bits of ``stars``, matches
    a sequence given item by item as the bits of the pattern positions that accept the item.

    Bit i of the state means "the pattern's first i items have matched so far". A non-star
    item moves its bit on when it accepts the next item; a star keeps its bit (it consumes the
    item) and can always be skipped. Stars are never adjacent (parsing collapses runs), so one
    skip step is enough. One pass: a few int operations per item.
    """
    state = 1 | (1 & stars) << 1
    for accepts in accepted:
        state = ((state & accepts) << 1) | (state & stars)
        state |= (state & stars) << 1
        if not state:
            return False
    return bool(state >> length & 1)


@dataclass(frozen=True)
class _CharPositions:
    """A one-segment pattern's positions as bits, for :func:`_shift_and` over characters."""

    stars: int
    free: int  # every position that is not a star: what a '?' on the other side meets
    any_char: int  # the '?' positions
    by_char: dict[str, int]  # each literal character's positions


@lru_cache(maxsize=_MEMO_SIZE)
def _char_positions(pattern: str) -> _CharPositions:
    stars = any_char = 0
    by_char: dict[str, int] = {}
    for position, char in enumerate(pattern):
        bit = 1 << position
        if char == "*":
            stars |= bit
        elif char == "?":
            any_char |= bit
        else:
            by_char[char] = by_char.get(char, 0) | bit
    return _CharPositions(stars, (1 << len(pattern)) - 1 & ~stars, any_char, by_char)


def _chars_agree(x: str, y: str) -> bool:
    return x == y or x == "?" or y == "?"


def _char_matches(x: str, y: str) -> bool:
    """A pattern's character against literal text, where '?' is just a character."""
    return x == y or x == "?"


def _pattern_meets(pattern: str, other: str, *, wild: bool) -> bool:
    """Whether some segment matches both ``pattern`` and ``other``, which has no '*': literal
    text, or with ``wild`` a pattern whose '?' each stand for any one character."""

    def middle_meets(middle: str, text: str) -> bool:
        bits = _char_positions(middle)
        return _shift_and(
            len(middle),
            bits.stars,
            (
                bits.free if wild and char == "?" else bits.by_char.get(char, 0) | bits.any_char
                for char in text
            ),
        )

    return _fixed_meets(pattern, other, "*", _chars_agree if wild else _char_matches, middle_meets)


@lru_cache(maxsize=_MEMO_SIZE)
def segments_intersect(x: Segment, y: Segment) -> bool:
    """Whether some single path segment matches both (neither may be GLOBSTAR)."""
    assert x is not None
    assert y is not None
    if isinstance(x, str):
        return x == y if isinstance(y, str) else _pattern_meets(y.text, x, wild=False)
    if isinstance(y, str):
        return _pattern_meets(x.text, y, wild=False)
    if "*" not in y.text:
        return _pattern_meets(x.text, y.text, wild=True)
    if "*" not in x.text:
        return _pattern_meets(y.text, x.text, wild=True)
    return _ends_agree(x.text, y.text, "*", _chars_agree)


def _segments_meet_middle(
    middle: tuple[Segment, ...], rest: Sequence[Segment], agree: Callable[[Segment, Segment], bool]
) -> bool:
    """Whether the pieces between the '**'s of ``middle`` fit into ``rest`` in order, without
    overlapping. Each piece goes to the first place it fits: placing a piece earlier never
    hurts the pieces after it, as every place in ``rest`` is independent of the others."""
    start = 0
    piece: list[Segment] = []
    for segment in middle[1:]:
        if segment is not GLOBSTAR:
            piece.append(segment)
            continue
        if len(piece) == 1:  # the common case, without a slice per place tried
            places = (offset for offset in range(start, len(rest)) if agree(piece[0], rest[offset]))
        else:
            places = (
                offset
                for offset in range(start, len(rest) - len(piece) + 1)
                if all(map(agree, piece, rest[offset : offset + len(piece)]))
            )
        offset = next(places, None)
        if offset is None:
            return False
        start = offset + len(piece)
        piece = []
    return True


def _globs_meet(
    a: tuple[Segment, ...], b: tuple[Segment, ...], agree: Callable[[Segment, Segment], bool]
) -> bool:
    """Whether some path matches both parsed globs: the two rules of the module's docstring,
    one level up, with ``agree`` saying whether two segment patterns share a segment."""
    a_deep, b_deep = GLOBSTAR in a, GLOBSTAR in b
    if a_deep and b_deep:
        return _ends_agree(a, b, GLOBSTAR, agree)
    pattern, fixed = (b, a) if b_deep else (a, b)
    return _fixed_meets(
        pattern,
        fixed,
        GLOBSTAR,
        agree,
        lambda middle, rest: _segments_meet_middle(middle, rest, agree),
    )


def _length(segment: Segment) -> int:
    return 0 if segment is None else len(segment if isinstance(segment, str) else segment.text)


class Comparison:
    """Comparing globs within a budget of work, with each pair of segments decided once.

    Work is counted in steps of about the same time, a fraction of a microsecond: looking up
    a pair of segments already decided is one; deciding a new pair is 16, plus one for every
    two characters the segments hold; comparing two globs is 16 more. The count depends only
    on the globs compared, not on what earlier analyses left in the memo of
    :func:`segments_intersect`, so a plan always gets the same answer.
    """

    def __init__(self, work: int) -> None:
        self.left = work
        self.segments: dict[tuple[Segment, Segment], bool] = {}

    def agree(self, x: Segment, y: Segment) -> bool:
        self.left -= 1
        known = self.segments.get((x, y))
        if known is None:
            self.left -= 15 + (_length(x) + _length(y)) // 2
            known = self.segments[(x, y)] = segments_intersect(x, y)
        return known

    def meets(self, a: tuple[Segment, ...], b: tuple[Segment, ...]) -> bool:
        """Whether some path matches both, with cheap verdicts first: a lone '**' meets
        anything, and two globs whose last segments are both ordinary must agree on the
        path's last segment."""
        self.left -= 16
        if a == (GLOBSTAR,) or b == (GLOBSTAR,):
            return True
        if (
            a
            and b
            and a[-1] is not GLOBSTAR
            and b[-1] is not GLOBSTAR
            and not self.agree(a[-1], b[-1])
        ):
            return False
        return _globs_meet(a, b, self.agree)


def globs_intersect(a: str, b: str) -> bool:
    """Whether some repository path matches both globs."""
    return _globs_meet(analysed_form(a), analysed_form(b), segments_intersect)


def glob_matches(glob: str, path: str) -> bool:
    """Whether a concrete repository path matches the glob.

    The path's segments are literal: ``glob_matches(g, p)`` equals ``globs_intersect(g, p)``
    for every path ``p`` without '*' or '?'.
    """
    return _globs_meet(analysed_form(glob), parse_path(path), segments_intersect)


def any_intersect(paths: Sequence[str], globs: Sequence[str], *, work: int) -> bool | None:
    """Whether some of ``paths`` (paths or globs) intersects some of ``globs``; None when
    ``work`` steps (see :class:`Comparison`) were spent before that was settled.

    Reading each string costs a step per 4 characters too, so the whole call does a bounded
    amount of work whatever it is given: cheap enough for an event loop.
    """
    comparison = Comparison(work)
    for path in paths:
        for glob in globs:
            comparison.left -= (len(path) + len(glob)) // 4
            if comparison.left < 0:
                return None
            if comparison.meets(analysed_form(path), analysed_form(glob)):
                return True
    return False
