"""Which tasks may touch the same files: intersection of repository path globs.

A glob is repository-relative and '/'-separated. Within one segment ``*`` matches any run of
characters (possibly none) and ``?`` exactly one; a segment that is exactly ``**`` matches zero
or more whole segments; everything else is literal (there are no ``[...]`` classes or escapes).
A trailing ``/`` names a directory and means everything under it (``dir/`` is ``dir/**``).
Empty and ``.`` segments are ignored, so ``./src//api`` is ``src/api``.

Two globs *intersect* when some path matches both. The test is exact, and two rules decide it
at both levels, characters within a segment and segments within a path (where ``**`` plays
the star, and "some segment matches both patterns" plays "the characters agree"):

- When both sides hold a star, they intersect exactly when their heads (up to the first
  star) agree item by item, and so do their tails (after the last star): a common match is
  the merged head, every middle piece of both sides, then the merged tail, each side's stars
  swallowing the other's pieces.
- Otherwise one side has a fixed length. It must start with the other's head and end with
  its tail, and the pieces between the other's stars must fit in between, in order: each
  placed where it first fits over segments, and over characters by one pass of Shift-And
  (the pattern's positions are the bits of an int).

The bound. A glob a task stores is within :data:`MAX_GLOB_LENGTH` characters,
:data:`MAX_GLOB_SEGMENTS` segments and :data:`MAX_GLOB_WILDCARDS` wildcards (checked by
:func:`clean_file_globs` wherever globs come in; one stored before these limits is read in a
wider form that is within them, :func:`analysed_form`). Deciding two such globs then takes at
most ``(S + 1) ** 2`` segment comparisons (``S = MAX_GLOB_SEGMENTS``; a trailing '/' adds a
'**'), and one comparison at most one pass over each segment's characters: a few int
operations per character, ``L = MAX_GLOB_LENGTH`` at most. So a pair costs O(S² + S·L): at
most 1,089 segment comparisons over 33,000 characters at the limits, where two 500-character
wildcard-heavy globs took a quarter of a million steps before. (The bound does not depend
on the number of wildcards: that limit keeps globs what people write.) Decisions on pairs of
segments are memoised (:func:`segments_intersect`); pairs of globs are not, as one analysis
meets each once and keeping them all cost more than it saved.

A whole plan's collisions are bounded too: :func:`overlapping_pairs` stops comparing after
:data:`MAX_COMPARISON_WORK` steps of work and lists at most :data:`MAX_LISTED_COLLISIONS`
pairs of tasks and :data:`MAX_LISTED_GLOB_PAIRS` pairs of globs, saying when it stopped
short.
"""

from projects.globs.collisions import (
    MAX_COMPARISON_WORK,
    MAX_LISTED_COLLISIONS,
    MAX_LISTED_GLOB_PAIRS,
    Collisions,
    GlobCollision,
    overlapping_pairs,
)
from projects.globs.limits import (
    GLOB_LIMITS,
    MAX_FILE_GLOBS,
    MAX_GLOB_LENGTH,
    MAX_GLOB_SEGMENTS,
    MAX_GLOB_WILDCARDS,
    clean_file_globs,
    glob_problem,
)
from projects.globs.matching import (
    GLOBSTAR,
    Segment,
    Wildcards,
    analysed_form,
    any_intersect,
    glob_matches,
    globs_intersect,
    parse_glob,
    parse_path,
    segments_intersect,
)

__all__ = [
    "GLOBSTAR",
    "GLOB_LIMITS",
    "MAX_COMPARISON_WORK",
    "MAX_FILE_GLOBS",
    "MAX_GLOB_LENGTH",
    "MAX_GLOB_SEGMENTS",
    "MAX_GLOB_WILDCARDS",
    "MAX_LISTED_COLLISIONS",
    "MAX_LISTED_GLOB_PAIRS",
    "Collisions",
    "GlobCollision",
    "Segment",
    "Wildcards",
    "analysed_form",
    "any_intersect",
    "clean_file_globs",
    "glob_matches",
    "glob_problem",
    "globs_intersect",
    "overlapping_pairs",
    "parse_glob",
    "parse_path",
    "segments_intersect",
]
