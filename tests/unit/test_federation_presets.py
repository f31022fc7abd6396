"""Connector quirks with recorded discovery documents and ID tokens signed by test keys.

OIDC Core §3.1.3.7 (ID token validation), Discovery §4.3 (issuer), and each vendor's rules:
Entra's multi-tenant issuer and tid allow-list, Google's hd, Okta's two kinds of
authorization server, GitHub's verified primary email.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from ostiary.federation.connectors import connector_for
from ostiary.federation.connectors.base import Callback, Identity, TokenResponse
from ostiary.federation.connectors.github import identity_from_api, verified_primary
from ostiary.federation.connectors.okta import server_kind
from ostiary.federation.discovery import Endpoints, endpoints_from
from ostiary.federation.errors import FederationError
from ostiary.federation.http import Upstream
from ostiary.federation.jwks import UpstreamKeys
from ostiary.federation.providers import Provider, ProviderConfigError

DATA = Path(__file__).parent / "data" / "federation"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig"})
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
CLIENT = "client-1"
NONCE = "nonce-123"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def provider(preset: str, issuer: str, **options: Any) -> Provider:
    p = Provider(
        name=preset,
        display_name=preset.title(),
        preset=preset,
        issuer=issuer,
        client_id=CLIENT,
        client_secret="s",
        scopes=("openid", "email"),
        options=options,
    )
    return connector_for(preset).configure(p)


def sign(claims: dict[str, Any], *, key: Any = KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, claims, key)


def claims_for(iss: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": iss,
        "sub": "u-1",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        **extra,
    }


class Fetcher:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, url: str) -> Any:
        self.calls += 1
        return {"keys": [KEY.as_dict(private=False)]}


def identify(p: Provider, document: dict[str, Any], token: str) -> Identity:
    connector = connector_for(p.preset)
    endpoints = endpoints_from(document, connector.discovery_issuer(p))  # type: ignore[attr-defined]
    upstream = Upstream()
    assert endpoints.jwks_uri
    upstream.keys[endpoints.jwks_uri] = UpstreamKeys(endpoints.jwks_uri, Fetcher())
    tokens = TokenResponse(access_token="at", token_type="Bearer", id_token=token)
    return asyncio.run(connector.identity(Callback(p, endpoints, tokens, NONCE, upstream)))


GOOGLE = "https://accounts.google.com"


def test_google_recorded_discovery_and_valid_token() -> None:
    found = identify(
        provider("google", GOOGLE),
        recorded("google"),
        sign(claims_for(GOOGLE, email="a@x.com", email_verified=True)),
    )
    assert (found.subject, found.email, found.email_verified) == ("u-1", "a@x.com", True)


def test_google_accepts_its_issuer_without_scheme() -> None:
    assert (
        identify(
            provider("google", GOOGLE), recorded("google"), sign(claims_for("accounts.google.com"))
        ).subject
        == "u-1"
    )


def test_google_hd_is_checked_on_the_token_not_only_sent() -> None:
    p = provider("google", GOOGLE, hosted_domain="example.com")
    assert connector_for("google").authorize_params(p) == {"hd": "example.com"}
    assert (
        identify(p, recorded("google"), sign(claims_for(GOOGLE, hd="example.com"))).subject == "u-1"
    )
    for hd in ({}, {"hd": "evil.com"}):
        with pytest.raises(FederationError) as info:
            identify(p, recorded("google"), sign(claims_for(GOOGLE, **hd)))
        assert info.value.status == 403


def test_google_refuses_another_issuer() -> None:
    with pytest.raises(ProviderConfigError):
        provider("google", "https://accounts.example.com")


ENTRA_COMMON = "https://login.microsoftonline.com/common/v2.0"


def test_entra_multi_tenant_needs_an_allow_list() -> None:
    with pytest.raises(ProviderConfigError, match="tenants"):
        provider("entra", ENTRA_COMMON)
    with pytest.raises(ProviderConfigError, match="tenants"):
        provider("entra", ENTRA_COMMON, tenants=["not-a-guid"])


def test_entra_multi_tenant_issuer_is_the_template_filled_with_tid() -> None:
    p = provider("entra", ENTRA_COMMON, tenants=[TENANT])
    iss = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    found = identify(
        p, recorded("entra_common"), sign(claims_for(iss, tid=TENANT, email="a@x.com"))
    )
    assert found.subject == "u-1"
    # Entra's email is not verified unless the domain owner verified it (xms_edov).
    assert found.email == "a@x.com" and not found.email_verified
    edov = identify(
        p,
        recorded("entra_common"),
        sign(claims_for(iss, tid=TENANT, email="a@x.com", xms_edov=True)),
    )
    assert edov.email_verified


def test_entra_refuses_a_tenant_off_the_list() -> None:
    p = provider("entra", ENTRA_COMMON, tenants=[TENANT])
    iss = f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"
    with pytest.raises(FederationError) as info:
        identify(p, recorded("entra_common"), sign(claims_for(iss, tid=OTHER_TENANT)))
    assert info.value.status == 403


def test_entra_refuses_an_issuer_of_another_tenant_than_tid() -> None:
    p = provider("entra", ENTRA_COMMON, tenants=[TENANT, OTHER_TENANT])
    iss = f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"
    with pytest.raises(FederationError) as info:
        identify(p, recorded("entra_common"), sign(claims_for(iss, tid=TENANT)))
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("issuer", "kind"),
    [
        ("https://acme.okta.com", "org"),
        ("https://acme.okta.com/oauth2/default", "custom"),
        ("https://acme.okta.com/oauth2/aus1a2b3c", "custom"),
    ],
)
def test_okta_server_kinds(issuer: str, kind: str) -> None:
    assert server_kind(issuer) == kind
    assert provider("okta", issuer).options["authorization_server"] == kind


@pytest.mark.parametrize("issuer", ["https://acme.okta.com/oauth2/v1", "https://acme.okta.com/x"])
def test_okta_refuses_an_endpoint_prefix_as_issuer(issuer: str) -> None:
    with pytest.raises(ProviderConfigError):
        provider("okta", issuer)


@pytest.mark.parametrize(
    ("name", "issuer"),
    [
        ("okta_org", "https://acme.okta.com"),
        ("okta_custom", "https://acme.okta.com/oauth2/default"),
    ],
)
def test_okta_recorded_discovery_and_amr(name: str, issuer: str) -> None:
    found = identify(
        provider("okta", issuer),
        recorded(name),
        sign(claims_for(issuer, amr=["pwd", "mfa"], groups=["Everyone"])),
    )
    assert found.amr == ("pwd", "mfa") and found.claims["groups"] == ["Everyone"]


def test_discovery_issuer_must_match_exactly() -> None:
    with pytest.raises(FederationError):
        endpoints_from(recorded("okta_org"), "https://acme.okta.com/")


def test_github_takes_only_a_verified_primary_email() -> None:
    emails = [
        {"email": "x@y.com", "primary": False, "verified": True},
        {"email": "me@y.com", "primary": True, "verified": False},
    ]
    assert verified_primary(emails) is None
    found = identify_github(emails)
    assert found.email is None and not found.email_verified and found.subject == "42"
    good = identify_github([{"email": "me@y.com", "primary": True, "verified": True}])
    assert (good.email, good.email_verified) == ("me@y.com", True)


def identify_github(emails: list[dict[str, Any]]) -> Identity:
    return identity_from_api({"id": 42, "login": "octo"}, emails)


def test_github_refuses_openid_scope() -> None:
    with pytest.raises(ProviderConfigError):
        connector_for("github").configure(
            Provider("gh", "GitHub", "github", "https://github.com", "c", "s", ("openid",))
        )


# -- OIDC Core §3.1.3.7, one check each -----------------------------------------------------

ISS = "https://op.example.com"
DOC = {
    "issuer": ISS,
    "authorization_endpoint": f"{ISS}/a",
    "token_endpoint": f"{ISS}/t",
    "jwks_uri": f"{ISS}/jwks",
}


def refuse(token: str) -> FederationError:
    with pytest.raises(FederationError) as info:
        identify(provider("oidc", ISS), DOC, token)
    assert info.value.status == 502
    return info.value


def test_core_3_1_3_7_valid_token() -> None:
    assert identify(provider("oidc", ISS), DOC, sign(claims_for(ISS))).subject == "u-1"


def test_core_3_1_3_7_tampered_payload() -> None:
    header, _, sig = sign(claims_for(ISS)).split(".")
    forged = jwt.encode({"alg": "RS256"}, claims_for(ISS, sub="admin"), OTHER_KEY).split(".")[1]
    assert "signature" in refuse(f"{header}.{forged}.{sig}").detail


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"nonce": "other"}, "nonce"),
        ({"iss": "https://evil.example.com"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": [CLIENT, "x"]}, "azp"),
        ({"azp": "x"}, "azp"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 3600}, "iat"),
        ({"sub": ""}, "sub"),
    ],
)
def test_core_3_1_3_7_claim_checks(claims: dict[str, Any], why: str) -> None:
    assert why in refuse(sign({**claims_for(ISS), **claims})).detail


def test_core_3_1_3_7_unknown_kid_refetches_once_then_refuses() -> None:
    p = provider("oidc", ISS)
    connector = connector_for("oidc")
    endpoints = endpoints_from(DOC, ISS)
    fetcher = Fetcher()
    upstream = Upstream()
    upstream.keys[f"{ISS}/jwks"] = UpstreamKeys(f"{ISS}/jwks", fetcher)
    token = sign(claims_for(ISS), key=OTHER_KEY, kid="k2")
    for _ in range(3):
        with pytest.raises(FederationError, match="could not be verified"):
            tokens = TokenResponse("at", "Bearer", token)
            asyncio.run(connector.identity(Callback(p, endpoints, tokens, NONCE, upstream)))
    assert fetcher.calls == 1  # rate-limited: forged kids cannot hammer the provider


def test_core_3_1_3_7_refuses_none_and_mac_algorithms() -> None:
    hs = jwt.encode({"alg": "HS256", "kid": "k1"}, claims_for(ISS), OctKey.import_key("s" * 32))
    assert "alg" in refuse(hs).detail
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = sign(claims_for(ISS)).split(".")[1]
    assert "alg" in refuse(f"{header}.{body}.").detail


def test_core_3_1_3_8_at_hash_is_checked_when_present() -> None:
    assert "at_hash" in refuse(sign(claims_for(ISS, at_hash="AAAA"))).detail


def test_endpoints_are_https_or_loopback() -> None:
    bad = {**DOC, "token_endpoint": "http://op.example.com/t"}
    with pytest.raises(FederationError):
        endpoints_from(bad, ISS)
    assert isinstance(endpoints_from(DOC, ISS), Endpoints)
