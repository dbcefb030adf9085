"""Debates in the admin: a readable transcript, and the human decisions on it.

Nobody edits a debate's rows here. Every change goes through :mod:`debates.services` as the
logged-in human, so it is checked by the same rules as over the API or MCP, and the event log
records it with their name. On an escalated debate's page a human accepts a proposal, decides
on an edited text, rejects every proposal, or returns the debate with guidance. An open debate
can be withdrawn. Each of these is a small form that POSTs to its own URL under the debate's
page. If the service refuses, the human sees its message and nothing changes.

Agents write the proposals, rationales, objections and answers, and evidence quotes web pages.
All of it is untrusted, so the templates show it auto-escaped and never mark it safe.

The package's modules: ``debates`` (the debate admin: its list, its page and the decision
URL), ``page`` (what the debate's page shows), ``decisions`` (the human decisions, one form
each) and ``search_hits`` (the kept web search results, read-only). Django's admin
autodiscovery imports this package, and importing the modules registers their admins.
"""

# Importing the modules registers their admins.
from debates.admin import debates, search_hits

__all__ = ["debates", "search_hits"]
