"""The Cookie header the upstream receives: without the gateway's cookies and without the
identity server's (RFC 6265 §8.5: cookies ignore the port, so an issuer on the gateway's
host has its cookies sent here too), every other cookie byte for byte."""

from __future__ import annotations

import pytest

from ostiary.gateway.headers import OSTIARY_COOKIES, upstream_request_headers
from ostiary.web.browser import BROWSER_COOKIE, SESSION_COOKIE

GATEWAY = ("ostiary_gw_", "__Host-ostiary_gw_")


def forwarded_cookie(*values: bytes, drop: tuple[str, ...] = GATEWAY) -> bytes | None:
    headers = [(b"host", b"app.example.com"), *((b"cookie", v) for v in values)]
    out = upstream_request_headers(
        headers, client_ip="192.0.2.1", scheme="https", trust_forwarded=False, drop_cookies=drop
    )
    found = [value for name, value in out if name == b"cookie"]
    assert len(found) <= 1
    return found[0] if found else None


def test_the_gateway_knows_every_cookie_the_identity_server_sets() -> None:
    """A cookie the server starts setting must be stripped here as well."""
    assert {SESSION_COOKIE.encode(), BROWSER_COOKIE.encode()} == OSTIARY_COOKIES


LOOK_ALIKES = b"ost_sessions=1; my_ost_session=2; OST_SESSION=3"


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        (b"ost_session=abc; app=1", b"app=1"),
        (b"app=1; ost_browser=xyz; ost_session=abc", b"app=1"),
        (b"ost_session=abc", None),
        (b"ostiary_gw_session=s; ostiary_gw_flow_1a=f; theme=dark", b"theme=dark"),
        (b"__Host-ostiary_gw_session=s; theme=dark", b"theme=dark"),
        # Names that only look alike (cookie names are case-sensitive) are the upstream's.
        (LOOK_ALIKES, LOOK_ALIKES),
        # Each other cookie stays as it came (quotes, '=' inside, %-escapes), joined by "; ".
        (b'a="qx"; ost_session=abc;b=c=d;  ost_browser=1;e=%41', b'a="qx"; b=c=d; e=%41'),
    ],
)
def test_identity_server_and_gateway_cookies_never_go_upstream(
    sent: bytes, forwarded: bytes | None
) -> None:
    assert forwarded_cookie(sent) == forwarded


@pytest.mark.parametrize(
    "sent", [b"a=1;b=2", b"a=1;  b=2 ", b'pref="x y"; z=%41', b"lone", b"a=1; a=2"]
)
def test_a_header_holding_none_of_ours_goes_on_unchanged(sent: bytes) -> None:
    assert forwarded_cookie(sent) == sent


def test_api_mode_strips_the_identity_servers_cookies_too() -> None:
    """No gateway cookies in API mode, but a browser on the issuer's host still sends the
    identity server's."""
    assert forwarded_cookie(b"ost_session=abc; app=1", drop=()) == b"app=1"


def test_several_cookie_fields_become_one() -> None:
    """RFC 9113 §8.2.3: the fields are joined with "; " (an HTTP/2 client splits them)."""
    assert forwarded_cookie(b"a=1", b"ost_session=x", b"b=2") == b"a=1; b=2"
    assert forwarded_cookie(b"a=1", b"b=2") == b"a=1; b=2"
