"""An OpenID Connect relying party built on Authlib, and a person's browser for the OP pages.

The relying party knows only the issuer: every endpoint comes from discovery (OIDC
Discovery 1.0 §4), every ID token is checked by Authlib against the published JWKS, never
by Ostiary's own JOSE code. The browser side reads the pages the way a person would: it
fills in the forms it is shown and follows redirects that stay at the provider.
"""

from __future__ import annotations

import secrets
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from ostiary.domain.users import User
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import PASSWORD, RegisteredClient, make_client, query_of

with warnings.catch_warnings():
    # Authlib 1.9 marks authlib.jose (in favour of joserfc, which Ostiary itself signs
    # with) and plain httpx as deprecated. Both work; a relying party whose JOSE code is
    # independent of the provider's is the point of these tests.
    from authlib.deprecate import AuthlibDeprecationWarning  # sets its own "always" filter

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey, JWTClaims, jwt
    from authlib.jose.errors import BadSignatureError, UnsupportedAlgorithmError
    from authlib.oidc.core import CodeIDToken
    from authlib.oidc.discovery import OpenIDProviderMetadata
    from authlib.oidc.rpinitiated import OpenIDProviderMetadata as RPInitiatedMetadata
    from joserfc.errors import JoseError as ClaimsError

__all__ = [
    "BadSignatureError",
    "ClaimsError",
    "JWTClaims",
    "JsonWebKey",
    "OpenIDProviderMetadata",
    "RPInitiatedMetadata",
    "UnsupportedAlgorithmError",
    "jwt",
]

ALL_SCOPES = ["openid", "profile", "email", "phone", "address", "offline_access"]
CALLBACK = "https://app.example.com/callback"
PROFILE = {
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "address": {
        "street_address": "12 St James's Square",
        "locality": "London",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
    },
}
PHONE = "+44 20 7946 0000"

_password_hash: dict[str, str] = {}
# Loading the CA store costs ~20 ms per httpx client; all traffic here is loopback http,
# so every client shares one context.
TLS = ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(timeout=30, verify=TLS, **kwargs)


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    with http_client() as http:
        return http.get(url, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    with http_client() as http:
        return http.post(url, **kwargs)


# -- accounts and registrations ------------------------------------------------------


def make_oidc_user(server: LiveServer, *, username: str | None = None) -> User:
    """A user with every kind of standard claim Ostiary holds (OIDC Core §5.1)."""
    name = username or unique("user")

    async def create(services: Services) -> User:
        # One Argon2 hash serves every user (same password): only logins pay for it.
        if "hash" not in _password_hash:
            _password_hash["hash"] = await services.passwords.hash(PASSWORD)
        return await services.store.users.add(
            username=name,
            email=f"{name}@example.com",
            password_hash=_password_hash["hash"],
            email_verified=True,
            phone_number=PHONE,
            profile=dict(PROFILE),
        )

    return server.call(create)


def make_oidc_client(server: LiveServer, **spec: object) -> RegisteredClient:
    """A confidential code-flow client allowed every OpenID scope."""
    values: dict[str, object] = {"scopes": list(ALL_SCOPES), "redirect_uris": [CALLBACK]}
    values.update(spec)
    return make_client(server, **values)


# -- the provider as discovered -------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """What an RP learns from /.well-known/openid-configuration (Discovery §4)."""

    issuer: str
    config_url: str
    metadata: dict[str, Any]

    @classmethod
    def discover(cls, issuer: str) -> Provider:
        # Discovery §4: the configuration lives at the issuer + this well-known path.
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = http_get(url)
        assert response.status_code == 200, response.text
        return cls(issuer, url, response.json())

    def endpoint(self, name: str) -> str:
        value = self.metadata[name]
        assert isinstance(value, str)
        return value

    def jwks(self) -> dict[str, Any]:
        response = http_get(self.endpoint("jwks_uri"))
        assert response.status_code == 200, response.text
        return response.json()

    def key_set(self) -> Any:
        return JsonWebKey.import_key_set(self.jwks())


# -- the relying party -----------------------------------------------------------------


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str | None
    verifier: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Tokens:
    access_token: str
    id_token: str | None
    refresh_token: str | None
    raw: dict[str, Any]


class RelyingParty:
    """A client application as Authlib implements it: PKCE S256, nonce, discovery."""

    def __init__(self, provider: Provider, client: RegisteredClient, scope: str) -> None:
        self.provider = provider
        self.client = client
        self.oauth = OAuth2Client(
            client_id=client.client_id,
            client_secret=client.secret,
            scope=scope,
            redirect_uri=client.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if client.secret else "none",
            timeout=30,
            verify=TLS,
        )

    def close(self) -> None:
        self.oauth.close()

    def __enter__(self) -> RelyingParty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorization(self, *, nonce: str | None = "", **extra: str) -> AuthRequest:
        """An authorization request; a fresh random nonce unless one is given (or None)."""
        if nonce == "":
            nonce = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        if nonce is not None:
            extra["nonce"] = nonce
        url, state = self.oauth.create_authorization_url(
            self.provider.endpoint("authorization_endpoint"), code_verifier=verifier, **extra
        )
        return AuthRequest(url, state, nonce, verifier, dict(extra))

    def redeem(self, request: AuthRequest, location: str) -> Tokens:
        """Check the response (state by Authlib, iss per RFC 9207 §2.4), fetch tokens."""
        query = query_of(location)
        assert query.get("iss") == self.provider.issuer, query
        return self.redeem_code(request, query["code"], location=location)

    def redeem_code(
        self, request: AuthRequest, code: str, *, location: str | None = None
    ) -> Tokens:
        kwargs: dict[str, Any] = {"code_verifier": request.verifier}
        if location is not None:
            kwargs["authorization_response"] = location
        else:
            kwargs["code"] = code
        token = self.oauth.fetch_token(
            self.provider.endpoint("token_endpoint"), state=request.state, **kwargs
        )
        return _tokens(dict(token))

    def refresh(self, refresh_token: str) -> Tokens:
        token = self.oauth.refresh_token(
            self.provider.endpoint("token_endpoint"), refresh_token=refresh_token
        )
        return _tokens(dict(token))

    def validate_id_token(
        self,
        id_token: str,
        *,
        nonce: str | None,
        access_token: str | None,
        max_age: int | None = None,
    ) -> CodeIDToken:
        """OIDC Core §3.1.3.7, by Authlib: signature, iss, aud, exp, iat, nonce, at_hash."""
        params: dict[str, Any] = {"client_id": self.client.client_id}
        if nonce is not None:
            params["nonce"] = nonce
        if access_token is not None:
            params["access_token"] = access_token
        if max_age is not None:
            params["max_age"] = max_age
        claims = jwt.decode(
            id_token,
            key=self.provider.key_set(),
            claims_cls=CodeIDToken,
            claims_options={
                "iss": {"essential": True, "value": self.provider.issuer},
                "aud": {"essential": True, "value": self.client.client_id},
            },
            claims_params=params,
        )
        claims.validate()
        return claims


def _tokens(raw: dict[str, Any]) -> Tokens:
    return Tokens(raw["access_token"], raw.get("id_token"), raw.get("refresh_token"), raw)


# -- the person with a browser ---------------------------------------------------------


class _Forms(HTMLParser):
    """Every form of a page: action, method and the named inputs with their values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append(
                Form(values.get("action") or "", (values.get("method") or "get").lower(), {})
            )
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].inputs[values["name"] or ""] = values.get("value") or ""
        elif tag == "script":
            self.scripts.append(values)


@dataclass
class Form:
    action: str
    method: str
    inputs: dict[str, str]


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def scripts_of(html: str) -> list[dict[str, str | None]]:
    parser = _Forms()
    parser.feed(html)
    return parser.scripts


def form_with(html: str, field_name: str) -> Form:
    for form in forms_of(html):
        if field_name in form.inputs:
            return form
    raise AssertionError(f"no form with a {field_name!r} field:\n{html}")


@dataclass
class Journey:
    """Which OP pages the person saw, and the response that leaves for the client."""

    pages: list[str]
    response: httpx.Response

    @property
    def location(self) -> str:
        assert self.response.status_code == 303, self.response.text
        return self.response.headers["location"]

    @property
    def query(self) -> dict[str, str]:
        return query_of(self.location)


def browser(server: LiveServer) -> httpx.Client:
    return http_client(base_url=server.base_url, follow_redirects=False)


def visit(
    web: httpx.Client,
    url: str,
    username: str | None = None,
    *,
    password: str = PASSWORD,
    decision: str = "allow",
) -> Journey:
    """Open ``url`` and go through the OP's pages until a response leaves for the client.

    Login forms are filled in with ``username`` (and fail the test if none is given),
    consent forms answered with ``decision``.
    """
    pages: list[str] = []
    response = web.get(url)
    for _ in range(8):
        if response.status_code in (302, 303):
            location = response.headers["location"]
            if not location.startswith("/"):
                return Journey(pages, response)
            response = web.get(location)
            continue
        if response.status_code != 200:
            return Journey(pages, response)
        if 'name="password"' in response.text:
            assert username is not None, "the provider asked to sign in"
            pages.append("login")
            form = form_with(response.text, "password")
            data = {**form.inputs, "username": username, "password": password}
            response = web.post(form.action, data=data)
        elif 'name="decision"' in response.text:
            pages.append("consent")
            form = form_with(response.text, "csrf")
            response = web.post(form.action, data={**form.inputs, "decision": decision})
        else:
            return Journey(pages, response)
    raise AssertionError("too many steps at the provider")


# -- waiting for asynchronous work --------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def validate_logout_token(provider: Provider, token: str, client_id: str) -> JWTClaims:
    """Back-Channel Logout §2.6 steps 1-4, by Authlib: signature, iss, aud, iat, exp."""
    claims = jwt.decode(
        token,
        key=provider.key_set(),
        claims_options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": client_id},
            "iat": {"essential": True},
            "exp": {"essential": True},
            "jti": {"essential": True},
        },
    )
    claims.validate()
    return claims
