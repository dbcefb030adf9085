"""Reading plan text: YAML or JSON, refusing a field given twice, then validating."""

from __future__ import annotations

import json
from typing import Any

import yaml

from projects.plan_format.specs import PlanError, PlanInvalid, PlanSpec
from projects.plan_format.validation import validate_plan_document

# libyaml's parser when PyYAML was built with it: it halves the time a large plan takes to read.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe YAML that refuses a field given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            identity = (key_node.tag, key_node.value)
            if identity in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"field {key_node.value!r} appears twice", key_node.start_mark
                )
            seen.add(identity)
        return super().construct_mapping(node, deep=deep)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"field {key!r} appears twice in one object")
        result[key] = value
    return result


def _looks_like_json(text: str, source: str) -> bool:
    suffix = source.lower().rsplit(".", 1)[-1] if "." in source else ""
    if suffix in {"yaml", "yml"}:
        return False
    return suffix == "json" or text.lstrip().startswith("{")


def load_plan_text(text: str, *, source: str) -> PlanSpec:
    """Parse and validate a plan; JSON by suffix ``.json`` or a leading ``{``, else YAML."""
    try:
        if _looks_like_json(text, source):
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            data = yaml.load(text, Loader=_StrictLoader)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PlanInvalid([PlanError(source, where, f"not valid JSON: {exc.msg}")]) from exc
    except ValueError as exc:
        raise PlanInvalid([PlanError(source, "document", f"not valid JSON: {exc}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "document"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanInvalid([PlanError(source, where, f"not valid YAML: {problem}")]) from exc
    return validate_plan_document(data, source=source)
