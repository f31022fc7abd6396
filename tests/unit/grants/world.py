"""The parties of a grant, made through the server's own code over an in-memory store:
clients registered as the admin API registers them, a signed-in user, an authorization
request taken to its code, and token requests as the token endpoint receives them."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

from ostiary.accounts.signin import SignedIn
from ostiary.crypto.tokens import digest, new_secret
from ostiary.domain.clients import Client
from ostiary.errors import OAuthError
from ostiary.oauth import authorize, token_endpoint
from ostiary.oauth.registration import ClientSpec, register
from ostiary.oidc import prompt
from ostiary.services import Services
from ostiary.settings import load_settings
from ostiary.tokens import signed

ISSUER = "https://id.example.test"
SETTINGS = load_settings(
    issuer=ISSUER,
    secret_key="unit-test-secret-key-" + "x" * 32,
    keys={"publish_ahead": 0, "cache_ttl": 86400},
)
REDIRECT_URI = "https://app.example.test/callback"
# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CLIENT_IP = "203.0.113.7"


class App:
    """A registered client and its secret (None: a public client)."""

    def __init__(self, client: Client, secret: str | None) -> None:
        self.client = client
        self.secret = secret

    @property
    def client_id(self) -> str:
        return self.client.client_id


async def register_app(
    services: Services,
    *,
    public: bool = False,
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    scopes: tuple[str, ...] = ("openid", "profile", "read", "write", "offline_access"),
    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
    **spec: Any,
) -> App:
    client, secret = await register(
        services.store.clients,
        ClientSpec(
            name="Unit app",
            redirect_uris=list(redirect_uris),
            grant_types=list(grant_types),
            scopes=list(scopes),
            public=public,
            **spec,
        ),
    )
    return App(client, secret)


async def sign_in(services: Services, username: str = "alice", ttl: int = 3600) -> SignedIn:
    """A user with a live SSO session (as a password login leaves one)."""
    user = await services.store.users.by_username(username)
    if user is None:
        user = await services.store.users.add(
            username=username, email=f"{username}@example.test", password_hash=None
        )
    cookie = new_secret("ost_ss_")
    session = await services.store.sessions.add(id_hash=digest(cookie), user_id=user.id, ttl=ttl)
    return SignedIn(session, user)


def authorization_params(app: App, **params: str | None) -> dict[str, str]:
    """An authorization request of ``app`` (code flow, S256, a state); a value of None
    leaves that parameter out."""
    values: dict[str, str | None] = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid read",
        "state": "af0ifjsldkj",
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    values.update(params)
    return {k: v for k, v in values.items() if v is not None}


async def authorize_code(
    services: Services, app: App, signed_in: SignedIn, **params: str | None
) -> str:
    """Run an authorization request through the endpoint's checks to a code for
    ``signed_in`` (who has consented): the code the redirect carries."""
    client, request = await authorize.validate(services, authorization_params(app, **params))
    assert client.client_id == app.client_id
    response = await authorize.issue_code(
        services,
        request,
        user_id=signed_in.user.id,
        sid=signed_in.session.sid,
        session_hash=signed_in.session.id_hash,
        auth=prompt.authentication(signed_in, authenticated_here=True),
    )
    assert response is not None
    sent = parse_qs(urlsplit(response.location()).query)
    assert sent["iss"] == [ISSUER]  # RFC 9207 §2
    assert sent.get("state") == ([request.state] if request.state else None)
    return sent["code"][0]


def basic(app: App) -> str:
    """RFC 6749 §2.3.1: client_secret_basic, each part form-urlencoded first."""
    assert app.secret is not None
    pair = f"{quote_plus(app.client_id)}:{quote_plus(app.secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def token(services: Services, app: App, **params: str) -> dict[str, Any]:
    """A token request by ``app`` (Basic authentication; a public client sends its id)."""
    if app.secret is None:
        params = {"client_id": app.client_id, **params}
    body = urlencode(params).encode()
    authorization = basic(app) if app.secret is not None else None
    return await token_endpoint.token(services, body, authorization, CLIENT_IP)


async def token_error(services: Services, app: App, **params: str) -> OAuthError:
    """The error a token request is refused with (it must be refused)."""
    try:
        answer = await token(services, app, **params)
    except OAuthError as exc:
        return exc
    raise AssertionError(f"the token request was granted: {sorted(answer)}")


def exchange_params(code: str, /, **params: str | None) -> dict[str, str]:
    """RFC 6749 §4.1.3: a code's token request, with the redirect URI and the verifier; a
    value of None leaves that parameter out."""
    values: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
    }
    values.update(params)
    return {k: v for k, v in values.items() if v is not None}


async def exchange(
    services: Services, app: App, code: str, /, **params: str | None
) -> dict[str, Any]:
    return await token(services, app, **exchange_params(code, **params))


async def verified(services: Services, jwt: str, typ: str) -> dict[str, Any]:
    """The claims of a JWT this server signed (typ ``JWT``: an ID token; ``at+jwt``: an
    RFC 9068 access token), its signature, issuer and expiry checked."""
    return await signed.verify(services.keys, jwt, issuer=ISSUER, typ={typ})
