"""Which tasks may touch the same files: intersection of repository path globs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GlobCollision:
    first: str
    second: str
    globs: tuple[tuple[str, str], ...]


def overlapping_pairs(file_globs: Mapping[str, Sequence[str]]) -> list[GlobCollision]:
    """Pairs of tasks with at least one pair of globs that some path matches both."""
    return []
