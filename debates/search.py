"""Web search that debate participants use to ground their arguments in current facts.

``search_web`` is the one entry point (the MCP ``search_web`` tool calls it): it validates the
query, asks the configured :class:`SearchProvider` and returns :class:`SearchResults` whose
hits carry what a piece of evidence stores: provider, query, URL, quote (the snippet) and
retrieval time.

Providers are chosen by ``settings.PEERCODE_SEARCH_PROVIDER``: ``""`` (off) or ``"nimble"``.
Nimble is reached through its official SDK (``nimble-python``). That SDK has no named
environments (no staging/production switch); it posts to ``https://sdk.nimbleway.com`` unless
``base_url`` or the process variable ``NIMBLE_BASE_URL`` says otherwise. We always pass the
host from ``settings.PEERCODE_NIMBLE_BASE_URL`` (default: that production host) so a stray
``NIMBLE_BASE_URL`` can't redirect queries and the API key elsewhere.

Everything a provider returns is untrusted text from the web: hits are plain strings, bounded
in length, with only ``http(s)`` URLs kept; nothing here interprets them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import nimble_python
from django.conf import settings
from nimble_python.types.search_response import Result as NimbleResult
from nimble_python.types.search_response import SearchResponse as NimbleSearchResponse

from peercode.errors import NotConfigured, UpstreamFailed, ValidationFailed

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 400
MIN_LIMIT = 1
MAX_LIMIT = 10
DEFAULT_LIMIT = 5
MAX_TITLE_CHARS = 300
MAX_SNIPPET_CHARS = 1000
MAX_URL_CHARS = 2000  # what SearchHit.url and Evidence.url hold

NIMBLE_PRODUCTION_URL = "https://sdk.nimbleway.com"
# One attempt plus one retry, each bounded; the SDK's defaults are 3 minutes and 2 retries.
NIMBLE_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
NIMBLE_MAX_RETRIES = 1

PROVIDER_NAMES = ("nimble",)

_FALLBACK_ADVICE = (
    "Meanwhile, cite URLs and quotes you already have as evidence, or ask a human to look the "
    "facts up."
)


@dataclass(frozen=True)
class SearchHit:
    """One search result: the page's title, its URL and the provider's quote from it."""

    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class SearchResults:
    """The answer to one query, with everything evidence records about where it came from."""

    provider: str
    query: str
    hits: tuple[SearchHit, ...]
    retrieved_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for API and MCP responses."""
        return {
            "provider": self.provider,
            "query": self.query,
            "retrieved_at": self.retrieved_at.isoformat(),
            "hits": [{"title": h.title, "url": h.url, "snippet": h.snippet} for h in self.hits],
        }


class SearchProvider(Protocol):
    """A web search backend.

    ``search`` receives an already validated query and limit, returns at most ``limit`` hits,
    and raises only ``PeerCodeError`` subclasses (``UpstreamFailed`` when the backend fails).
    """

    name: str

    def search(self, query: str, *, limit: int) -> list[SearchHit]: ...


class NimbleProvider:
    """Searches the web through Nimble's ``POST /v2/search`` at ``search_depth="lite"``.

    Lite depth returns titles, URLs and short descriptions, which is what evidence needs, at
    Nimble's lowest cost and latency. Pass ``http_client`` to choose the transport (tests use
    ``httpx.MockTransport``); the caller keeps ownership of a client it passes.
    """

    name = "nimble"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = NIMBLE_PRODUCTION_URL,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not api_key.strip():
            raise NotConfigured(
                "Web search through Nimble needs an API key, and NIMBLE_API_KEY is empty: a "
                "human sets NIMBLE_API_KEY in PeerCode's environment and restarts it. "
                + _FALLBACK_ADVICE,
                code="search_key_missing",
            )
        if not base_url.startswith(("https://", "http://")):
            raise NotConfigured(
                f"PEERCODE_NIMBLE_BASE_URL must be an http(s) URL, got {base_url!r}: a human "
                f"sets it to {NIMBLE_PRODUCTION_URL} (the default) or unsets it. "
                + _FALLBACK_ADVICE,
                code="search_misconfigured",
            )
        self.base_url = base_url
        self._client = nimble_python.Nimble(
            api_key=api_key.strip(),
            base_url=base_url,
            client_source="peercode",
            timeout=NIMBLE_TIMEOUT,
            max_retries=NIMBLE_MAX_RETRIES,
            http_client=http_client,
        )

    def search(self, query: str, *, limit: int) -> list[SearchHit]:
        try:
            response = self._client.search(query=query, max_results=limit, search_depth="lite")
        except nimble_python.APIError as exc:
            raise _upstream_failure(exc) from exc
        return _nimble_hits(response, limit=limit)


def get_provider(*, http_client: httpx.Client | None = None) -> SearchProvider:
    """The provider the settings name, ready to search; ``NotConfigured`` says what is missing."""
    name = settings.PEERCODE_SEARCH_PROVIDER.strip().lower()
    if not name:
        raise NotConfigured(
            "Web search is not configured on this PeerCode server: a human sets "
            "PEERCODE_SEARCH_PROVIDER=nimble and NIMBLE_API_KEY=<key> in PeerCode's environment "
            "and restarts it. Cite URLs and quotes you already have as evidence instead.",
            code="search_not_configured",
        )
    if name == "nimble":
        return NimbleProvider(
            api_key=settings.NIMBLE_API_KEY,
            base_url=settings.PEERCODE_NIMBLE_BASE_URL or NIMBLE_PRODUCTION_URL,
            http_client=http_client,
        )
    allowed = ", ".join(repr(n) for n in PROVIDER_NAMES)
    raise NotConfigured(
        f"PEERCODE_SEARCH_PROVIDER is {name!r}, which PeerCode does not know: a human sets it to "
        f"one of {allowed}, or to '' to turn web search off. " + _FALLBACK_ADVICE,
        code="unknown_search_provider",
        details={"provider": name, "allowed": list(PROVIDER_NAMES)},
    )


def search_web(
    *, query: str, limit: int = DEFAULT_LIMIT, provider: SearchProvider | None = None
) -> SearchResults:
    """Search the web for ``query`` and return at most ``limit`` hits.

    Guarantees: the query is validated before any network call (``ValidationFailed``); with no
    usable provider it raises ``NotConfigured``; any provider or network failure arrives as
    ``UpstreamFailed`` with advice; ``retrieved_at`` is an aware UTC time taken when the
    answer arrived. Writes nothing.
    """
    query = _validated_query(query)
    limit = _validated_limit(limit)
    chosen = provider if provider is not None else get_provider()
    hits = chosen.search(query, limit=limit)[:limit]
    return SearchResults(
        provider=chosen.name, query=query, hits=tuple(hits), retrieved_at=datetime.now(UTC)
    )


def _validated_query(query: object) -> str:
    if not isinstance(query, str):
        raise ValidationFailed(
            f"query must be text, got {type(query).__name__}: pass the words to search for.",
            details={"field": "query"},
        )
    query = query.strip()
    if not query:
        raise ValidationFailed(
            "query is empty: pass the words to search for, e.g. 'PostgreSQL 17 release date'.",
            details={"field": "query"},
        )
    if "\x00" in query:
        raise ValidationFailed(
            "query contains a NUL character (\\x00): remove it and search again.",
            details={"field": "query"},
        )
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationFailed(
            f"query is {len(query)} characters; the most is {MAX_QUERY_CHARS}: shorten it to the "
            "key terms of the fact you need.",
            details={"field": "query", "length": len(query), "max": MAX_QUERY_CHARS},
        )
    return query


def _validated_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValidationFailed(
            f"limit must be a whole number from {MIN_LIMIT} to {MAX_LIMIT}, got {limit!r}.",
            details={"field": "limit"},
        )
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit is {limit}; it must be from {MIN_LIMIT} to {MAX_LIMIT}: ask for fewer results "
            "and search again with a sharper query if you need more.",
            details={"field": "limit", "min": MIN_LIMIT, "max": MAX_LIMIT},
        )
    return limit


def _nimble_hits(response: object, *, limit: int) -> list[SearchHit]:
    # The SDK builds its models without validation: a field the API left out is None, and a
    # body of an unexpected shape comes back as whatever it parsed to.
    results = getattr(response, "results", None)
    if not isinstance(response, NimbleSearchResponse) or not isinstance(results, list):
        logger.warning("Nimble search answered in an unexpected shape: %.200r", response)
        raise UpstreamFailed(
            "Nimble answered the search in a shape PeerCode does not recognise, so no results "
            "could be read. Retry later; if it persists, a human checks that nimble-python is "
            "current. " + _FALLBACK_ADVICE,
            details={"provider": "nimble"},
        )
    hits: list[SearchHit] = []
    for result in results:
        if not isinstance(result, NimbleResult):
            continue
        url = _page_url(result.url)
        if not url:
            continue
        snippet = _plain_text(result.description, MAX_SNIPPET_CHARS) or _plain_text(
            result.content, MAX_SNIPPET_CHARS
        )
        hits.append(
            SearchHit(title=_plain_text(result.title, MAX_TITLE_CHARS), url=url, snippet=snippet)
        )
        if len(hits) == limit:
            break
    return hits


def _page_url(value: object) -> str:
    """The URL if it is a web page someone can open, else ``""``: only those are evidence.

    Other schemes (``javascript:``, ``data:``) are dropped because a dashboard may render the
    URL as a link; a URL is never shortened, since a cut URL points somewhere else.
    """
    if not isinstance(value, str):
        return ""
    url = value.strip()
    if (
        not url.lower().startswith(("https://", "http://"))
        or len(url) > MAX_URL_CHARS
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url)
    ):
        return ""
    return url


def _plain_text(value: object, max_chars: int) -> str:
    """``value`` as a bounded string; NUL is dropped because the database can't store it."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "").strip()
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def _upstream_failure(exc: nimble_python.APIError) -> UpstreamFailed:
    """Turn an SDK error into advice; the upstream body is logged, never shown to agents."""
    details: dict[str, Any] = {"provider": "nimble"}
    if isinstance(exc, nimble_python.APITimeoutError):
        what = (
            f"Nimble did not answer the search within {NIMBLE_TIMEOUT.read:.0f} seconds "
            f"(tried {NIMBLE_MAX_RETRIES + 1} times)."
        )
        advice = "Retry in a minute, perhaps with a shorter query."
    elif isinstance(exc, nimble_python.APIConnectionError):
        what = "PeerCode could not reach Nimble's search service (network or DNS failure)."
        advice = "Retry in a few minutes; if it persists, a human checks the server's network."
    elif isinstance(exc, nimble_python.APIStatusError):
        status = exc.status_code
        details["status"] = status
        what = f"Nimble refused the search with HTTP {status}."
        if status in (401, 403):
            advice = (
                "The API key was rejected: a human checks NIMBLE_API_KEY (keys are at "
                "https://online.nimbleway.com) and restarts PeerCode."
            )
        elif status == 429:
            advice = "The rate limit or quota was hit: wait a few minutes and retry."
        elif status in (400, 422):
            advice = "Nimble did not accept the query: rephrase it as plain search words."
        elif status >= 500:
            advice = "Nimble's service is failing, usually briefly: retry in a few minutes."
        else:
            advice = "Retry later; if it persists, a human checks the Nimble account."
    else:
        what = "Nimble answered the search with data PeerCode could not read."
        advice = "Retry later."
    logger.warning("Nimble search failed: %s (body: %.500r)", exc.message, exc.body)
    return UpstreamFailed(f"Web search failed. {what} {advice} {_FALLBACK_ADVICE}", details=details)
