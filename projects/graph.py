"""Pure graph algorithms over the task DAG: cycles, waves and the critical path.

Tasks are identified by their keys; ``depends_on`` maps a key to the keys it depends on.
Everything here is linear in tasks + edges, so a 5,000-task plan takes milliseconds; the
selectors feed it from two queries and the plan importer feeds it before writing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def find_cycle(depends_on: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One dependency cycle as ``[a, b, ..., a]`` (a depends on b ...), or None for a DAG.

    Iterative depth-first search, so deep chains don't hit the recursion limit.
    """
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    for root in depends_on:
        if colour.get(root, white) != white:
            continue
        path: list[str] = [root]
        stack = [iter(depends_on.get(root, ()))]
        colour[root] = grey
        while stack:
            advanced = False
            for dep in stack[-1]:
                state = colour.get(dep, white)
                if state == grey:
                    return [*path[path.index(dep) :], dep]
                if state == white:
                    colour[dep] = grey
                    path.append(dep)
                    stack.append(iter(depends_on.get(dep, ())))
                    advanced = True
                    break
            if not advanced:
                colour[path.pop()] = black
                stack.pop()
    return None


def format_cycle(cycle: list[str]) -> str:
    return " → ".join(cycle)


def waves(depends_on: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Topological layers: wave 1 has no dependencies, wave n depends only on earlier waves.

    Every task in one wave can run in parallel with the others in that wave. Keys keep the
    order in which ``depends_on`` lists them. The graph must be acyclic.
    """
    order = {key: index for index, key in enumerate(depends_on)}
    remaining = dict.fromkeys(depends_on, 0)
    dependents: dict[str, list[str]] = {key: [] for key in depends_on}
    for key, deps in depends_on.items():
        for dep in set(deps):
            if dep in remaining:
                remaining[key] += 1
                dependents[dep].append(key)
    layer = [key for key, count in remaining.items() if count == 0]
    result: list[list[str]] = []
    placed = 0
    while layer:
        layer.sort(key=order.__getitem__)
        result.append(layer)
        placed += len(layer)
        following: list[str] = []
        for key in layer:
            for dependent in dependents[key]:
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    following.append(dependent)
        layer = following
    if placed != len(depends_on):
        cycle = find_cycle(depends_on) or []
        raise ValueError(f"The plan has a dependency cycle: {format_cycle(cycle)}")
    return result


@dataclass(frozen=True)
class CriticalPath:
    keys: list[str]
    length: int  # the sum of the estimates along the path


def critical_path(
    depends_on: Mapping[str, Iterable[str]], estimates: Mapping[str, int] | None = None
) -> CriticalPath:
    """The longest chain of dependent tasks, weighted by estimate (1 each when not given).

    It bounds how soon the whole plan can finish however many agents work on it. Ties are
    broken by plan order, so the answer is stable.
    """
    layers = waves(depends_on)
    weight = estimates or {}
    finish: dict[str, int] = {}
    previous: dict[str, str | None] = {}
    for layer in layers:
        for key in layer:
            best_dep: str | None = None
            best = 0
            for dep in depends_on.get(key, ()):
                if dep in finish and finish[dep] > best:
                    best, best_dep = finish[dep], dep
            finish[key] = best + max(1, int(weight.get(key, 1)))
            previous[key] = best_dep
    if not finish:
        return CriticalPath(keys=[], length=0)
    order = {key: index for index, key in enumerate(depends_on)}
    end = max(finish, key=lambda key: (finish[key], -order[key]))
    path: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        path.append(cursor)
        cursor = previous[cursor]
    path.reverse()
    return CriticalPath(keys=path, length=finish[end])
