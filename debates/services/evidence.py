"""Web searches kept as evidence: each result is stored as the server retrieved it, so a turn
that cites it carries the provider, query and retrieval time PeerCode saw, not an agent's word
for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from debates import search
from debates.models import SearchHit
from peercode.actors import Actor
from peercode.events.services import record_event
from projects.models import Agent


@dataclass(frozen=True)
class KeptSearch:
    """One search as PeerCode ran it, and its results as stored (citable by id)."""

    provider: str
    query: str
    retrieved_at: datetime
    hits: list[SearchHit]


def search_web(
    *,
    agent: Agent,
    query: str,
    limit: int = search.DEFAULT_LIMIT,
    provider: search.SearchProvider | None = None,
) -> KeptSearch:
    """Search the web through the configured provider and keep the results, which any turn
    of the agent's project may then cite by id. The search runs before the transaction (it
    may take seconds); storing its results is one transaction. Emits ``search.performed``.
    Raises ``NotConfigured`` without a provider, ``UpstreamFailed`` when it fails."""
    results = search.search_web(query=query, limit=limit, provider=provider)
    with transaction.atomic():
        hits = SearchHit.objects.bulk_create(
            SearchHit(
                project=agent.project,
                agent=agent,
                provider=results.provider,
                query=results.query,
                rank=rank,
                title=hit.title[:500],
                url=hit.url,
                snippet=hit.snippet,
                retrieved_at=results.retrieved_at,
            )
            for rank, hit in enumerate(results.hits, start=1)
        )
        record_event(
            project=agent.project,
            type="search.performed",
            actor=Actor.for_agent(agent),
            subject=f"agent:{agent.name}",
            # Not the query: agents read the event log, and a search made during a blind
            # round would tell the others what its author is working on.
            payload={"provider": results.provider, "hits": len(hits)},
        )
    return KeptSearch(
        provider=results.provider,
        query=results.query,
        retrieved_at=results.retrieved_at,
        hits=hits,
    )
