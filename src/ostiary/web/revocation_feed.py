"""GET /revocations: the revocation feed, a signed page of events after a cursor.

Resource servers that check JWT access tokens locally poll it to learn within seconds
what was revoked (docs/revocation-feed.md). Public on purpose: it names only token ids,
subject ids, session ids and client ids, which resource servers see in tokens anyway.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.domain.revocation import RevocationEvent
from ostiary.errors import invalid_request
from ostiary.services import Services
from ostiary.tokens.signed import sign
from ostiary.web.responses import NO_STORE, protocol_endpoint

TYP = "revocation-feed+jwt"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FEED_TTL = 60
MAX_CURSOR = 2**63 - 1  # a BIGINT: anything larger is no id we could have issued


def _integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise invalid_request(f"{name} given more than once")
    value = values[0]
    # isdigit alone accepts non-ASCII digits, which int() reads but nobody means.
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise invalid_request(f"{name} must be a non-negative integer")
    number = int(value)
    if number < low:
        raise invalid_request(f"{name} must be at least {low}")
    if number > MAX_CURSOR:
        raise invalid_request(f"{name} is too large")
    return min(number, high)


def feed_claims(
    issuer: str, after: int, events: list[RevocationEvent], more: bool
) -> dict[str, Any]:
    now = clock.now()
    return {
        "iss": issuer,
        "iat": now,
        "exp": now + FEED_TTL,
        "events": [e.as_json() for e in events],
        # Resume from here; with no new events the caller's own cursor comes back.
        "cursor": events[-1].id if events else after,
        "more": more,
    }


@protocol_endpoint
async def revocations(request: Request) -> Response:
    services: Services = request.app.state.services
    after = _integer(request, "after", 0, 0, MAX_CURSOR)
    limit = _integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    # One row past the page says whether there is more, without a count.
    rows = await services.store.revocation_events.since(after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    # How late this poller learns of the oldest revocation it had not seen (metrics).
    request.app.state.observability.feed_page(after, page)
    keys = await services.keys.fresh()
    claims = feed_claims(services.settings.issuer, after, page, more)
    return Response(
        sign(keys, "ES256", claims, TYP), media_type="application/jwt", headers=NO_STORE
    )
