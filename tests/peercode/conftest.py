from __future__ import annotations

import pytest

from tests.peercode.mcp_support import MODES, Team, make_other_team, make_team


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio: Daphne's reactor and the MCP SDK's transport both do."""
    return "asyncio"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each MCP client mode: 'auto' (discover, then fall back), 'legacy' (2025 handshake) and
    '2026-07-28' (the stateless revision, no handshake)."""
    return request.param


@pytest.fixture
def alpha(transactional_db: None) -> Team:
    return make_team("alpha")


@pytest.fixture
def beta(transactional_db: None) -> Team:
    """Another project, whose agents share alpha's agent names but none of its task keys or
    contract names."""
    return make_other_team("beta")
