"""OpenID Provider metadata (OIDC Discovery 1.0 §3): complete, consistent, and honest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ostiary.domain.mfa import ACR_MFA, ACR_PHR, ACR_PWD
from ostiary.keys.algorithms import SUPPORTED as REGISTRABLE_ID_TOKEN_ALGS
from ostiary.oauth.authorize import PROMPTS, RESPONSE_MODES
from ostiary.oidc.discovery import openid_configuration
from ostiary.settings import load_settings
from ostiary.tokens.claims import SCOPE_CLAIMS

ISSUERS = [
    ("https://id.example.com", "https://id.example.com"),
    ("https://id.example.com/", "https://id.example.com"),
    ("https://id.example.com/realms/main", "https://id.example.com/realms/main"),
    ("https://id.example.com/realms/main/", "https://id.example.com/realms/main"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
]
REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
URL_MEMBERS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No OSTIARY_* variable from the outer environment leaks into the settings."""
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def metadata(issuer: str = "https://id.example.com") -> dict[str, Any]:
    return openid_configuration(load_settings(issuer=issuer, secret_key="x" * 40))


@pytest.mark.parametrize("member", REQUIRED)
def test_oidc_discovery_3_required_members_are_present(member: str) -> None:
    doc = metadata()
    assert member in doc
    assert doc[member]


@pytest.mark.parametrize("member", ["userinfo_endpoint", "end_session_endpoint"])
def test_oidc_discovery_3_userinfo_and_end_session_endpoints_are_published(member: str) -> None:
    """Discovery §3 (RECOMMENDED) and RP-Initiated Logout §2.1."""
    assert metadata()[member].startswith("https://id.example.com/")


@pytest.mark.parametrize(("configured", "issuer"), ISSUERS)
def test_oidc_discovery_3_issuer_has_no_trailing_slash_and_prefixes_every_endpoint(
    configured: str, issuer: str
) -> None:
    """§3 / §4.3: issuer is exactly the identifier (no trailing slash); endpoints live under it."""
    doc = metadata(configured)
    assert doc["issuer"] == issuer
    assert not doc["issuer"].endswith("/")
    for member in URL_MEMBERS:
        assert doc[member].startswith(issuer + "/"), member
        assert "//" not in doc[member].removeprefix(issuer.split("//")[0] + "//")


def test_oidc_discovery_3_request_objects_by_value_only() -> None:
    """§3: request objects by value (RFC 9101) are supported, signed with the client's
    asymmetric keys; by reference they are not, and §3 defaults
    request_uri_parameter_supported to true, so false must be said out loud."""
    doc = metadata()
    assert doc["request_parameter_supported"] is True
    assert doc["request_uri_parameter_supported"] is False
    algs = doc["request_object_signing_alg_values_supported"]
    assert "ES256" in algs and "PS256" in algs
    assert not {"none", "HS256"} & set(algs)
    # RFC 9101 §10.5: no server-wide requirement exists, so none is announced.
    assert "require_signed_request_object" not in doc


def test_oidc_discovery_3_only_the_code_flow_is_offered() -> None:
    """No implicit or hybrid response types (RFC 9700 §2.1.2); no fragment response mode."""
    doc = metadata()
    assert doc["response_types_supported"] == ["code"]
    for response_type in doc["response_types_supported"]:
        assert not {"token", "id_token"} & set(response_type.split())
    assert set(doc["response_modes_supported"]) == {"query", "form_post"}
    assert set(doc["response_modes_supported"]) == set(RESPONSE_MODES)


def test_oidc_discovery_3_grant_types_exclude_password_and_implicit() -> None:
    grants = set(metadata()["grant_types_supported"])
    assert {"authorization_code", "refresh_token"} <= grants
    assert not grants & {"password", "implicit"}


def test_oidc_discovery_3_claims_supported_lists_every_scope_claim() -> None:
    doc = metadata()
    claims = doc["claims_supported"]
    assert len(claims) == len(set(claims))
    every_scope_claim = {name for names in SCOPE_CLAIMS.values() for name in names}
    assert every_scope_claim <= set(claims)
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid"} <= set(claims)
    assert doc["claims_parameter_supported"] is True
    assert doc["claim_types_supported"] == ["normal"]


def test_oidc_discovery_3_scopes_supported_include_the_oidc_scopes() -> None:
    scopes = set(metadata()["scopes_supported"])
    assert {"openid", "offline_access", "profile", "email", "address", "phone"} <= scopes


def test_oidc_discovery_3_id_token_algs_include_rs256_and_match_registration() -> None:
    """§3: RS256 MUST be listed; none never; and every alg a client may register (Registration
    §2 id_token_signed_response_alg) is advertised, and nothing else."""
    algs = metadata()["id_token_signing_alg_values_supported"]
    assert "RS256" in algs
    assert "none" not in algs
    assert not any(alg.startswith("HS") for alg in algs)
    assert set(algs) == set(REGISTRABLE_ID_TOKEN_ALGS)


def test_oidc_discovery_3_subject_types_and_pkce() -> None:
    doc = metadata()
    assert doc["subject_types_supported"] == ["public"]
    assert doc["code_challenge_methods_supported"] == ["S256"]


def test_oidc_discovery_3_prompt_and_acr_values_match_what_is_implemented() -> None:
    doc = metadata()
    assert set(doc["prompt_values_supported"]) == set(PROMPTS)
    # One factor, two factors, phishing-resistant (OpenID EAP ACR Values §2), weakest first.
    assert doc["acr_values_supported"] == [ACR_PWD, ACR_MFA, ACR_PHR]


def test_oidc_discovery_logout_support_is_stated() -> None:
    """Back-Channel Logout §2.1 and Front-Channel Logout §3 metadata."""
    doc = metadata()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["frontchannel_logout_supported"] is False


def test_oidc_discovery_4_2_document_serialises_to_json() -> None:
    """§4.2: the response is a JSON object; the route serialises it with orjson."""
    doc = metadata()
    assert orjson.loads(orjson.dumps(doc)) == doc
