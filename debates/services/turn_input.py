"""What a turn carries: its answers, objections and evidence checked into plain lists, the
search results it cites, its stored evidence, and the fingerprint that tells a retry of the
same turn from a reuse of its client key.

The raw input is checked before the turn's transaction opens, and each refusal says which item
is wrong and what it should look like; the cited search results are looked up, and the
evidence stored, inside it. :func:`debates.services.turns.submit_turn` is the turn's flow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from debates.models import Debate, Evidence, SearchHit, Turn
from debates.services.common import MAX_ITEM_TEXT, MAX_ITEMS, bounded_text
from peercode.errors import ValidationFailed
from projects.models import Agent


def _items(
    raw: Sequence[Mapping[str, Any]], fields: tuple[str, str], *, what: str
) -> list[dict[str, str]]:
    if not isinstance(raw, list | tuple):
        raise ValidationFailed(f"'{what}' must be a list.", code=f"bad_{what}")
    if len(raw) > MAX_ITEMS:
        raise ValidationFailed(
            f"At most {MAX_ITEMS} {what} per turn; {len(raw)} were given.",
            code=f"too_many_{what}",
        )
    key, body = fields
    example = json.dumps({key: "P1" if key == "proposal" else "O1", body: "..."})
    clean = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {key, body}:
            raise ValidationFailed(
                f"{what}[{index}] must be an object with exactly '{key}' and '{body}', "
                f"e.g. {example}.",
                code=f"bad_{what}",
            )
        label = bounded_text(str(item[key]), what=f"{what}[{index}].{key}", limit=20)
        text = bounded_text(
            str(item[body]) if item[body] is not None else "",
            what=f"{what}[{index}].{body}",
            limit=MAX_ITEM_TEXT,
        )
        clean.append({key: label, body: text})
    return clean


def _evidence_items(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple):
        raise ValidationFailed("'evidence' must be a list.", code="bad_evidence")
    if len(raw) > MAX_ITEMS:
        raise ValidationFailed(
            f"At most {MAX_ITEMS} pieces of evidence per turn; {len(raw)} were given.",
            code="too_many_evidence",
        )
    clean: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if isinstance(item, Mapping) and set(item) == {"search_result"}:
            hit_id = item["search_result"]
            if isinstance(hit_id, bool) or not isinstance(hit_id, int) or hit_id < 1:
                raise ValidationFailed(
                    f"evidence[{index}].search_result must be the id of a search_web result.",
                    code="bad_evidence",
                )
            clean.append({"search_result": hit_id})
        elif isinstance(item, Mapping) and set(item) == {"url", "quote"}:
            url = bounded_text(str(item["url"] or ""), what=f"evidence[{index}].url", limit=2000)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationFailed(
                    f"evidence[{index}].url must be an http(s) URL, got {url[:100]!r}.",
                    code="bad_evidence_url",
                )
            quote = bounded_text(
                str(item["quote"] or ""), what=f"evidence[{index}].quote", limit=MAX_ITEM_TEXT
            )
            clean.append({"url": url, "quote": quote})
        else:
            raise ValidationFailed(
                f"evidence[{index}] must be {{'search_result': <id from search_web>}} or "
                "{'url': 'https://...', 'quote': 'the words you rely on'}.",
                code="bad_evidence",
            )
    return clean


def _search_hits(agent: Agent, items: list[dict[str, Any]]) -> list[SearchHit | None]:
    wanted = [item["search_result"] for item in items if "search_result" in item]
    found = {hit.pk: hit for hit in SearchHit.objects.filter(project=agent.project, pk__in=wanted)}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown search result id(s): {', '.join(missing)}; cite ids that search_web "
            "returned in this project.",
            code="unknown_search_result",
        )
    return [found.get(item.get("search_result", 0)) for item in items]


def _store_evidence(
    debate: Debate, turn: Turn, item: dict[str, Any], hit: SearchHit | None
) -> Evidence:
    if hit is not None:
        return Evidence.objects.create(
            debate=debate,
            turn=turn,
            url=hit.url,
            quote=hit.snippet[:MAX_ITEM_TEXT] or hit.title,
            provider=hit.provider,
            query=hit.query,
            retrieved_at=hit.retrieved_at,
            search_hit=hit,
        )
    return Evidence.objects.create(debate=debate, turn=turn, url=item["url"], quote=item["quote"])


def _fingerprint(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
