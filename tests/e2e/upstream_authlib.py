"""An independent OpenID Provider for the federation tests, built on Authlib's server side.

Authlib's framework-neutral ``AuthorizationServer`` runs the protocol: the authorization
code grant (RFC 6749 §4.1) with PKCE (RFC 7636, required) and the OpenID Connect
extension that signs the ID token (OIDC Core §3.1.3.6). This module adds what a framework
integration would: requests built from Starlette's, responses turned back, and in-memory
clients, codes and one test user who is approved without a login form.

``Behaviour`` holds the switches a test flips to make the provider misbehave: a tampered
ID token signature, a wrong nonce, a wrong ``iss``, a signing key whose ``kid`` is not in
the JWKS, extra ``acr``/``amr`` claims, an RFC 9207 ``iss`` in the authorization
response, or the person refusing consent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, OAuth2Payload, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port
from tests.e2e.upstream_app import serving

CODE_TTL = 300
ID_TOKEN_TTL = 300


@dataclass
class Behaviour:
    """How the provider misbehaves; all off means a correct OpenID Provider."""

    tamper_signature: bool = False
    wrong_nonce: bool = False
    wrong_issuer: bool = False
    unknown_kid: bool = False
    acr: str | None = None
    amr: list[str] | None = None
    deny: bool = False
    # RFC 9207: an ``iss`` parameter to add to the authorization response.
    callback_iss: str | None = None


@dataclass
class Person:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Grace Hopper"
    groups: list[str] = field(default_factory=list)


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, RFC 9700 §4.1.3

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


# -- Authlib <-> Starlette -----------------------------------------------------------------


class _Payload(OAuth2Payload):
    """The query and form parameters together, as Authlib's Flask integration sees them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._datalist.setdefault(key, []).append(value)
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:  # type: ignore[override]
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, request: Request, body: bytes) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(request.query_params)
        self._form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.payload = _Payload(list(request.query_params.multi_items()) + parse_qsl(body.decode()))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Server(AuthorizationServer):
    def __init__(self, provider: AuthlibProvider) -> None:
        super().__init__(scopes_supported=["openid", "email", "profile"])
        self.provider = provider
        self.register_token_generator("default", self._bearer)

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider.issued.append(token["access_token"])

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # built by the route, which has read the body already

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
        return Response(content, status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def _bearer(
        grant_type: str,
        client: Client,
        user: Person | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(32),
            "expires_in": expires_in or 3600,
            "scope": scope or "",
        }


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    @property
    def provider(self) -> AuthlibProvider:
        return self.server.provider  # type: ignore[no-any-return]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            scope=request.client.get_allowed_scope(data.get("scope", "")),
            person=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
            expires_at=time.monotonic() + CODE_TTL,
        )
        self.provider.challenges.append(data.get("code_challenge_method") or "")

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.provider.codes.get(code)
        if found and found.client_id == client.client_id and found.expires_at > time.monotonic():
            return found
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> Person:
        return authorization_code.person


class _IdToken(OpenIDCode):
    """Authlib's OpenID Connect extension, signing with the test key (or misbehaving)."""

    def __init__(self, provider: AuthlibProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.rogue_key if self.provider.behaviour.unknown_kid else self.provider.key

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.resolve_client_private_key(client).kid or ""}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        behaviour = self.provider.behaviour
        issuer = "https://evil.example.com" if behaviour.wrong_issuer else self.provider.issuer
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + ID_TOKEN_TTL,
        }
        if behaviour.acr is not None:
            claims["acr"] = behaviour.acr
        if behaviour.amr is not None:
            claims["amr"] = behaviour.amr
        return claims

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if self.provider.behaviour.wrong_nonce:
            claims["nonce"] = "not-the-nonce-that-was-sent"
        return claims

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        info = UserInfo(sub=user.sub, groups=list(user.groups))
        if "email" in scope.split():
            info.update(email=user.email, email_verified=user.email_verified)
        if "profile" in scope.split():
            info.update(name=user.name)
        return info

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        encoded: str = super().encode_id_token(token, request)
        if not self.provider.behaviour.tamper_signature:
            return encoded
        head, payload, signature = encoded.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        return f"{head}.{payload}.{flipped}"


# -- the provider and its routes ---------------------------------------------------------


class AuthlibProvider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "authlib-1", "use": "sig"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "rogue", "use": "sig"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.issued: list[str] = []
        self.challenges: list[str] = []
        self.person = Person(sub=secrets.token_hex(8), email="grace@example.com")
        self.behaviour = Behaviour()
        self.server = _Server(self)
        self.server.register_grant(_CodeGrant, [CodeChallenge(required=True), _IdToken(self)])

    def add_client(self, redirect_uri: str) -> Client:
        client = Client(secrets.token_hex(8), secrets.token_urlsafe(24), [redirect_uri])
        self.clients[client.client_id] = client
        return client

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        """OIDC Discovery 1.0 §3."""
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        """RFC 7517 §5: the public signing key only (never the rogue one)."""
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        """RFC 6749 §4.1.1: the test person is signed in and approves (unless told not to)."""
        oauth_request = _Request(request, b"")
        try:
            grant = self.server.get_consent_grant(request=oauth_request, end_user=self.person)
        except OAuth2Error as error:
            return self.server.handle_error_response(oauth_request, error)  # type: ignore[no-any-return]
        person = None if self.behaviour.deny else self.person
        response: Response = self.server.create_authorization_response(
            request=grant.request, grant_user=person, grant=grant
        )
        if self.behaviour.callback_iss is not None and "location" in response.headers:
            iss = urlencode({"iss": self.behaviour.callback_iss})
            response.headers["location"] = f"{response.headers['location']}&{iss}"
        return response

    async def token(self, request: Request) -> Response:
        """RFC 6749 §4.1.3."""
        oauth_request = _Request(request, await request.body())
        return self.server.create_token_response(oauth_request)  # type: ignore[no-any-return]


@contextmanager
def running_provider() -> Iterator[AuthlibProvider]:
    """The provider on a free loopback port, served by uvicorn in a thread."""
    port = free_port()
    provider = AuthlibProvider(f"http://127.0.0.1:{port}")
    with serving(provider.app(), port):
        yield provider
