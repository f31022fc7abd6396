"""Resource indicators (RFC 8707), the pure rules: the one URI rule (``domain.resources``),
``resource`` as the one repeatable parameter (``oauth.params``), and what a token request
is issued for (``oauth.resource_indicators``)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.domain.resources import MAX_URI, Resource, Target, uri_problem
from ostiary.errors import OAuthError
from ostiary.oauth import resource_indicators
from ostiary.oauth.params import parse_params, values

pytestmark = pytest.mark.anyio

ORDERS = Resource("https://orders.example.com", "Orders", frozenset({"orders:read"}), 0)
BILLING = Resource(
    "https://billing.example.com/api", "Billing", frozenset({"billing:read", "orders:read"}), 0
)


class Registry:
    def __init__(self, *resources: Resource) -> None:
        self.found = {r.uri: r for r in resources}
        self.asked: list[str] = []

    async def get(self, uri: str) -> Resource | None:
        self.asked.append(uri)
        return self.found.get(uri)


def params_of(*resources: str, **others: str) -> dict[str, str]:
    pairs = [("resource", r) for r in resources] + list(others.items())
    return parse_params(urlencode(pairs))


# -- the URI rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://api.example.com",
        "https://api.example.com/",
        "https://api.example.com:8443/v1/orders",
        "https://api.example.com/v1?tenant=acme",  # §2: a query where it is needed
        "https://api.example.com/a%20b",
        "https://[2001:db8::1]/api",
        "https://192.0.2.10/api",
        "http://127.0.0.1:9000",
        "http://localhost/api",
        "http://[::1]:8080/",
    ],
)
def test_rfc8707_2_acceptable_resource_uris(uri: str) -> None:
    assert uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://api.example.com/#top", "fragment"),  # §2: MUST NOT include a fragment
        ("https://api.example.com#", "fragment"),
        ("api.example.com", "absolute"),  # §2: MUST be an absolute URI
        ("/orders", "absolute"),
        ("//api.example.com/orders", "absolute"),
        ("", "empty"),
        ("urn:example:orders", "https"),
        ("ftp://files.example.com", "https"),
        ("HTTPS://api.example.com", "https"),  # compared exactly: lowercase only
        ("http://api.example.com", "loopback"),
        ("http://10.0.0.1/api", "loopback"),
        ("https://", "host"),
        ("https:api.example.com", "host"),
        ("https://user:pw@api.example.com", "user information"),
        ("https://*.example.com", "host name"),
        ("https://api.example.com:99999", "not a valid URI"),
        ("https://api.example.com/a b", "character"),
        ("https://api.example.com/\u00e9", "character"),
        ('https://api.example.com/"', "character"),
        ("https://api.example.com/{tenant}", "character"),
        ("https://api.example.com/\n", "character"),
        ("https://a.example.com/" + "x" * MAX_URI, "longer"),
    ],
)
def test_rfc8707_2_refused_resource_uris(uri: str, problem: str) -> None:
    found = uri_problem(uri)
    assert found is not None and problem in found


_HOSTS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){1,3}", fullmatch=True)
_PATHS = st.lists(st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@-]{1,12}", fullmatch=True))


@given(host=_HOSTS, port=st.none() | st.integers(1, 65535), path=_PATHS)
def test_rfc8707_2_https_uris_with_a_host_are_accepted(
    host: str, port: int | None, path: list[str]
) -> None:
    uri = f"https://{host}{f':{port}' if port else ''}/{'/'.join(path)}"
    assert uri_problem(uri) is None


@given(base=_HOSTS, fragment=st.text(max_size=10))
def test_rfc8707_2_any_fragment_is_refused(base: str, fragment: str) -> None:
    assert uri_problem(f"https://{base}/x#{fragment}") is not None


@given(text=st.text(max_size=60))
def test_rfc8707_2_whatever_passes_is_an_absolute_https_or_loopback_uri(text: str) -> None:
    if uri_problem(text) is None:
        assert text.startswith(("https://", "http://"))
        assert "#" not in text and text.isascii() and text.isprintable() and " " not in text
        if text.startswith("http://"):
            assert uri_problem("https://" + text.removeprefix("http://")) is None


@given(host=_HOSTS.filter(lambda h: h != "localhost"))
def test_rfc8707_2_plain_http_only_on_loopback(host: str) -> None:
    assert uri_problem(f"http://{host}/api") is not None
    assert uri_problem(f"https://{host}/api") is None


# -- resource, the one repeatable parameter ------------------------------------------------


def test_rfc8707_2_resource_may_repeat_other_parameters_may_not() -> None:
    params = params_of(ORDERS.uri, BILLING.uri, scope="orders:read")
    assert values(params, "resource") == (ORDERS.uri, BILLING.uri)
    with pytest.raises(OAuthError) as refused:
        parse_params("scope=a&resource=https%3A%2F%2Fa.example&scope=b")
    assert refused.value.error == "invalid_request"


def test_rfc8707_2_an_empty_resource_counts_as_omitted() -> None:
    assert values(parse_params("resource=&resource=https%3A%2F%2Fa.example"), "resource") == (
        "https://a.example",
    )
    assert values(parse_params("resource="), "resource") == ()


@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda v: "\x00" not in v), max_size=8))
def test_rfc8707_2_repeated_values_come_back_exactly_as_sent(sent: list[str]) -> None:
    """No value can split in two or two merge into one, whatever they hold (spaces, '%',
    escapes): a malformed value is refused as itself."""
    body = "&".join(f"resource={quote(v, safe='')}" for v in sent)
    assert values(parse_params(body), "resource") == tuple(sent)


# -- the token request's target ------------------------------------------------------------


def test_rfc8707_2_requested_values_in_order_each_once() -> None:
    params = params_of(BILLING.uri, ORDERS.uri, BILLING.uri)
    assert resource_indicators.requested(params) == (BILLING.uri, ORDERS.uri)


@pytest.mark.parametrize("value", ["orders", "https://orders.example.com#x", "http://api.example"])
def test_rfc8707_2_a_malformed_value_is_invalid_target(value: str) -> None:
    with pytest.raises(OAuthError) as refused:
        resource_indicators.requested(params_of(value))
    assert (refused.value.error, refused.value.status) == ("invalid_target", 400)


def test_too_many_resources_are_refused_before_any_lookup() -> None:
    many = [f"https://api{i}.example.com" for i in range(resource_indicators.MAX_RESOURCES + 1)]
    with pytest.raises(OAuthError) as refused:
        resource_indicators.requested(params_of(*many))
    assert refused.value.error == "invalid_target"


async def test_rfc8707_2_an_unregistered_resource_is_invalid_target() -> None:
    with pytest.raises(OAuthError) as refused:
        await resource_indicators.for_authorization(
            Registry(ORDERS), params_of(ORDERS.uri, "https://unknown.example.com")
        )
    assert refused.value.error == "invalid_target"
    assert "https://unknown.example.com" in (refused.value.description or "")


async def test_rfc8707_2_1_authorization_keeps_the_registered_resources() -> None:
    registry = Registry(ORDERS, BILLING)
    found = await resource_indicators.for_authorization(
        registry, params_of(ORDERS.uri, BILLING.uri)
    )
    assert found == (ORDERS.uri, BILLING.uri)
    assert await resource_indicators.for_authorization(registry, params_of()) == ()


async def test_no_resource_asked_or_held_changes_nothing() -> None:
    registry = Registry(ORDERS)
    scopes = frozenset({"openid", "orders:read"})
    for granted in (None, ()):
        target = await resource_indicators.for_token(
            registry, params_of(scope="x"), scopes, granted=granted
        )
        assert target is None
    assert registry.asked == []


SCOPES = frozenset({"openid", "profile", "orders:read", "billing:read", "other"})
BILLING_AND_ORDERS = (ORDERS.uri, BILLING.uri)


@pytest.mark.parametrize(
    ("asked", "granted", "audience", "scopes"),
    [
        # client credentials: any registered resource, nothing granted before
        ((ORDERS.uri,), None, (ORDERS.uri,), {"orders:read"}),
        # §2.2: the cartesian product, downscoped to what the audience accepts
        (
            (ORDERS.uri, BILLING.uri),
            None,
            (ORDERS.uri, BILLING.uri),
            {"orders:read", "billing:read"},
        ),
        # §2.2: a subset of what was granted downscopes
        (
            (BILLING.uri,),
            (ORDERS.uri, BILLING.uri),
            (BILLING.uri,),
            {"orders:read", "billing:read"},
        ),
        # none asked: every resource granted
        ((), BILLING_AND_ORDERS, BILLING_AND_ORDERS, {"orders:read", "billing:read"}),
    ],
)
async def test_rfc8707_2_2_audience_and_downscoped_scopes(
    asked: tuple[str, ...],
    granted: tuple[str, ...] | None,
    audience: tuple[str, ...],
    scopes: set[str],
) -> None:
    target = await resource_indicators.for_token(
        Registry(ORDERS, BILLING), params_of(*asked), SCOPES, granted=granted
    )
    assert target == Target(audience, frozenset(scopes), granted or audience)


@pytest.mark.parametrize("granted", [(), (ORDERS.uri,)])
async def test_rfc8707_2_2_a_resource_not_granted_is_invalid_target(
    granted: tuple[str, ...],
) -> None:
    registry = Registry(ORDERS, BILLING)
    with pytest.raises(OAuthError) as refused:
        await resource_indicators.for_token(
            registry, params_of(BILLING.uri), SCOPES, granted=granted
        )
    assert refused.value.error == "invalid_target"
    assert registry.asked == []  # refused before any lookup


async def test_rfc8707_2_2_a_granted_resource_since_deleted_is_invalid_target() -> None:
    with pytest.raises(OAuthError) as refused:
        await resource_indicators.for_token(
            Registry(ORDERS), params_of(), SCOPES, granted=(ORDERS.uri, BILLING.uri)
        )
    assert refused.value.error == "invalid_target"


def test_rfc8707_2_2_a_scope_no_resource_accepts_is_dropped() -> None:
    kept = resource_indicators.narrowed(frozenset({"openid", "orders:read", "x"}), [ORDERS])
    assert kept == frozenset({"orders:read"})
    assert resource_indicators.narrowed(frozenset({"openid"}), [ORDERS]) == frozenset()
