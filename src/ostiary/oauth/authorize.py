"""Authorization endpoint (RFC 6749 §3.1, §4.1.1; OIDC Core §3.1.2): a list of small checks.

The first two checks (client, redirect URI) decide whether it is safe to redirect at
all; until both pass, errors are shown as a page (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
After that, errors go back to the client in the requested response mode.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import orjson

from ostiary.crypto.tokens import AUTHORIZATION_CODE_PREFIX, digest, new_secret
from ostiary.domain.clients import Client
from ostiary.domain.users import User
from ostiary.errors import AuthorizationError, OAuthError, UnsafeRedirectError
from ostiary.oauth import dpop, pkce, profiles, request_objects, resource_indicators
from ostiary.oauth.deps import AuthorizeDeps
from ostiary.oauth.redirect_uris import find_match
from ostiary.oauth.scopes import check_allowed, parse_scope
from ostiary.tokens import claims as oidc_claims
from ostiary.tokens import id_token
from ostiary.tokens.deps import Checking

RESPONSE_MODES = ("query", "form_post")
# RFC 9126 §2.2: the form of the request_uri the PAR endpoint hands out. A request_uri of
# this form names a pushed request; any other would be a request object by reference
# (OIDC Core §6.2, RFC 9101 §5.2), which is not supported: fetching a URL the client names
# would let anyone make this server send requests where they like. Request objects by
# value (``request``) are (``request_objects``).
PUSHED_REQUEST_URI = "urn:ietf:params:oauth:request_uri:"
UNKNOWN_REQUEST_URI = (
    "The pushed sign-in request (request_uri) is unknown, was already used, has expired or "
    "belongs to another application (invalid_request_uri). Go back to the application and "
    "start again."
)
PROMPTS = ("none", "login", "consent", "select_account")

# The whole request (query string or form body), in bytes. Far above what a real client
# sends (a few hundred bytes, a claims request included), and what bounds the row every
# unauthenticated request leaves behind for the length of the interaction.
MAX_REQUEST = 8 * 1024
# The longest value, in characters, of each parameter the interaction keeps or the checks
# read. client_id and redirect_uri need none of their own: the first must name a
# registered client, the second match a registered URI (both are checked first).
# code_challenge is exactly 43 characters (RFC 7636 §4.2, S256), checked by ``_pkce``.
PARAM_LIMITS: dict[str, int] = {
    "state": 1024,
    "nonce": 512,
    "login_hint": 256,
    "scope": 2048,
    "claims": 4096,
    "acr_values": 512,
    "ui_locales": 256,
    "id_token_hint": 4096,
    "prompt": 64,
    "response_type": 64,
    "response_mode": 32,
    "code_challenge_method": 16,
    "display": 16,
    "dpop_jkt": 64,
}
# JSON text and a JWT: the only ones whose characters are not checked here.
_FREE_TEXT = frozenset({"claims", "id_token_hint"})


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, as kept while the user logs in and consents."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    state: str | None = None
    code_challenge: str | None = None
    nonce: str | None = None
    response_mode: str = "query"
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    login_hint: str | None = None
    id_token_hint_sub: str | None = None
    acr_values: tuple[str, ...] = ()
    claims: dict[str, Any] | None = field(default=None)
    # RFC 9449 §10: the DPoP key the code is to be bound to.
    dpop_jkt: str | None = None
    # RFC 8707 §2.1: the resources the request names (registered ones), kept with the code.
    resources: tuple[str, ...] = ()

    @property
    def openid(self) -> bool:
        return "openid" in self.scopes

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict (what ``asdict`` gives, without its generic deep copy: this
        runs on every authorization request), leaving out those at their default value:
        the pending interaction stores no more than the request said (``from_json`` puts
        the defaults back)."""
        data = {}
        for name in _REQUEST_FIELDS:
            value = getattr(self, name)
            if name not in _DEFAULTS or value != _DEFAULTS[name]:
                data[name] = value
        if self.claims is not None:
            data["claims"] = copy.deepcopy(self.claims)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthorizationRequest:
        tuples = ("scopes", "prompt", "acr_values", "resources")
        fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        return cls(**fields)

    def fail(self, error: str, description: str) -> AuthorizationError:
        return AuthorizationError(
            error,
            description,
            redirect_uri=self.redirect_uri,
            state=self.state,
            response_mode=self.response_mode,
        )


_REQUEST_FIELDS = tuple(f.name for f in fields(AuthorizationRequest))
_DEFAULTS = {f.name: f.default for f in fields(AuthorizationRequest) if f.default is not MISSING}


@dataclass(frozen=True, slots=True)
class AuthorizationResponse:
    """Parameters for the client, delivered by redirect or form post."""

    redirect_uri: str
    params: dict[str, str]
    response_mode: str

    def location(self) -> str:
        return response_uri(self.redirect_uri, self.params)


async def validate(
    services: AuthorizeDeps, params: dict[str, str], *, pushed: bool = False
) -> tuple[Client, AuthorizationRequest]:
    """The client and the request ``params`` make, or the error to show or send back.

    ``pushed``: ``params`` came through the PAR endpoint (RFC 9126), which validates them
    here as they arrive. A request_uri the PAR endpoint handed out is swapped for the
    parameters pushed under it, which are validated again (§4: the client's registration
    or the policy may have changed since). A signed request object (``request``, given
    here or pushed) is swapped for the parameters it holds (RFC 9101 §6.3)."""
    taken = False
    if not pushed and params.get("request_uri", "").startswith(PUSHED_REQUEST_URI):
        params, pushed, taken = await _pushed_params(services, params), True, True
    client = await _client(services, params)
    opened = None
    if "request" in params:
        opened = await request_objects.open_request(services, client, params, pushed=pushed)
        params = opened.params
    redirect_uri = _redirect_uri(client, params)
    unfit = _unfit(params)
    unfit_name = unfit[0] if unfit else None
    # An unfit state is not echoed back: the error goes without it.
    state = params.get("state") if unfit_name != "state" else None
    mode = params.get("response_mode", "query")
    known_mode = mode in RESPONSE_MODES and unfit_name != "response_mode"

    def fail(error: str, description: str) -> AuthorizationError:
        return AuthorizationError(
            error,
            description,
            redirect_uri=redirect_uri,
            state=state,
            response_mode=mode if known_mode else "query",
        )

    if unfit is not None:
        raise fail("invalid_request", unfit[1])
    if not known_mode:
        raise fail("invalid_request", f"response_mode '{mode}' is not supported")
    if opened is not None:
        try:
            # A pushed object's jti was recorded at the push; the pushed request is used once.
            await request_objects.check_claims(services, opened, first_use=not taken)
        except OAuthError as exc:
            raise fail(exc.error, exc.description or "invalid request object") from None
    # RFC 9101 §10.5 (RFC 9126 §2.3): a client registered to use signed request objects
    # MUST have any other request refused, pushed or not.
    elif client.require_signed_request_object:
        raise fail("invalid_request", "this client must send a signed request object")
    # RFC 9126 §4 (§5, §6): with PAR required, by the server or for this client, nothing
    # but a pushed request is accepted. The redirect URI is a registered one by now.
    if not pushed and (
        services.settings.require_par or client.require_pushed_authorization_requests
    ):
        raise fail("invalid_request", "pushed authorization request required")
    profile_problem = profiles.authorization_problem(client, params, pushed)
    if profile_problem is not None:
        raise fail("invalid_request", profile_problem)
    for check in CHECKS:
        check(client, params, fail)
    scopes = _scopes(client, params, fail)
    try:
        resources = await resource_indicators.for_authorization(services.store.resources, params)
    except OAuthError as exc:
        # RFC 8707 §2: invalid_target, sent to the redirect URI as other errors are.
        raise fail(exc.error, exc.description or "invalid resource") from None
    try:
        claims = oidc_claims.parse_claims_request(params.get("claims"))
    except OAuthError as exc:
        raise fail(exc.error, exc.description or "invalid claims") from None
    # What is kept is the parsed request, written out again: bounded too (numbers such as
    # 1e9 come back longer than they went in).
    if claims is not None and len(orjson.dumps(claims)) > PARAM_LIMITS["claims"]:
        raise fail("invalid_request", "claims is too long")
    hint_sub = await _id_token_hint(services, client, params, fail)
    dpop_jkt = params.get("dpop_jkt")
    # RFC 9449 §10: dpop_jkt is the JWK SHA-256 thumbprint of the client's DPoP key.
    if dpop_jkt is not None and not dpop.is_jkt(dpop_jkt):
        raise fail("invalid_request", "dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    return client, AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given="redirect_uri" in params,
        scopes=tuple(sorted(scopes)),
        state=state,
        code_challenge=params.get("code_challenge"),
        nonce=params.get("nonce"),
        response_mode=mode,
        prompt=tuple(params.get("prompt", "").split()),
        max_age=int(params["max_age"]) if "max_age" in params else None,
        login_hint=params.get("login_hint"),
        id_token_hint_sub=hint_sub,
        acr_values=tuple(params.get("acr_values", "").split()),
        claims=claims,
        dpop_jkt=dpop_jkt,
        resources=resources,
    )


async def _pushed_params(services: Checking, params: dict[str, str]) -> dict[str, str]:
    """The parameters pushed under the request's request_uri, taken (used) now. The others
    given with it are ignored (RFC 9126 §4 builds the request as RFC 9101 §6.3 does: only
    the pushed parameters are used, even where the same one is given again here).

    Every refusal is a page: until the pushed request is found, no redirect URI is known
    to be the client's (RFC 6749 §4.1.2.1)."""
    client_id = params.get("client_id")
    # RFC 9101 §5: client_id is REQUIRED beside request_uri.
    if client_id is None:
        raise UnsafeRedirectError("The request has no client_id.")
    # RFC 9126 §2.2: a request_uri MUST be bound to the client that pushed it; §4: used
    # once, and an expired one MUST be rejected. One statement, so that of two nodes given
    # the same request_uri only one can use it.
    taken = await services.store.pushed_authorizations.take(
        digest(params["request_uri"]), client_id
    )
    if taken is None:
        raise UnsafeRedirectError(UNKNOWN_REQUEST_URI)
    return taken


async def _client(services: Checking, params: dict[str, str]) -> Client:
    client_id = params.get("client_id")
    if client_id is None:
        raise UnsafeRedirectError("The request has no client_id.")
    client = await services.store.clients.get(client_id)
    if client is None:
        raise UnsafeRedirectError("The application (client_id) is not registered here.")
    return client


def _redirect_uri(client: Client, params: dict[str, str]) -> str:
    requested = params.get("redirect_uri")
    if requested is None:
        # OIDC Core §3.1.2.1: an authentication request (scope openid) MUST carry it.
        if "openid" in params.get("scope", "").split():
            raise UnsafeRedirectError("An OpenID Connect request must name its redirect_uri.")
        # RFC 6749 §3.1.2.3: may be omitted only when exactly one URI is registered.
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise UnsafeRedirectError("The request has no redirect_uri.")
    # RFC 9700 §4.1.3: exact string matching (RFC 8252 §7.3: loopback port aside, for
    # native clients only).
    if find_match(requested, client.redirect_uris, native=client.public) is None:
        raise UnsafeRedirectError("The redirect_uri is not registered for this application.")
    return requested


def _unfit(params: dict[str, str]) -> tuple[str, str] | None:
    """The first parameter longer than its limit (``PARAM_LIMITS``) or, but for JSON and
    JWT values, holding control characters, with what is wrong; None if there is none.

    RFC 6749 Appendix A.5, A.4: state is VSCHARs, scope NQCHARs; no value a client sends
    here needs a control character, and each would be kept six times over (JSON escapes).
    """
    for name, limit in PARAM_LIMITS.items():
        value = params.get(name)
        if value is None:
            continue
        if len(value) > limit:
            return name, f"{name} is too long"
        if name not in _FREE_TEXT and not value.isprintable():
            return name, f"{name} contains characters that are not allowed"
    return None


Fail = Callable[[str, str], AuthorizationError]


def _no_request_uri(client: Client, params: dict[str, str], fail: Fail) -> None:
    # OIDC Core §6.2, RFC 9101 §5.2: request objects by reference are optional; the
    # metadata says they are unsupported (a pushed request's URN never gets here).
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")


def _response_type(client: Client, params: dict[str, str], fail: Fail) -> None:
    response_type = params.get("response_type")
    if response_type is None:
        raise fail("invalid_request", "response_type is required")
    # Only the code flow: no implicit grant (RFC 9700 §2.1.2).
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")


def _grant_allowed(client: Client, params: dict[str, str], fail: Fail) -> None:
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "this client may not use the authorization code flow")


def _pkce(client: Client, params: dict[str, str], fail: Fail) -> None:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        # RFC 9700 §2.1.1: public clients MUST use PKCE.
        if client.public:
            raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
        return
    # RFC 7636 §4.3 defaults the method to plain; plain is refused (RFC 9700 §2.1.1).
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not pkce.is_valid_challenge(challenge):
        raise fail("invalid_request", "code_challenge is malformed")


def _prompt(client: Client, params: dict[str, str], fail: Fail) -> None:
    values = params.get("prompt", "").split()
    unknown = set(values) - set(PROMPTS)
    if unknown:
        raise fail("invalid_request", f"unsupported prompt value {sorted(unknown)[0]!r}")
    # OIDC Core §3.1.2.1: none with any other value is an error.
    if "none" in values and len(values) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values")


def _max_age(client: Client, params: dict[str, str], fail: Fail) -> None:
    value = params.get("max_age")
    if value is not None and not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise fail("invalid_request", "max_age must be a non-negative integer")


CHECKS = (
    _no_request_uri,
    _response_type,
    _grant_allowed,
    _pkce,
    _prompt,
    _max_age,
)


def _scopes(client: Client, params: dict[str, str], fail: Fail) -> frozenset[str]:
    try:
        return check_allowed(parse_scope(params.get("scope")), client.scopes)
    except OAuthError as exc:
        raise fail(exc.error, exc.description or "invalid scope") from None


async def _id_token_hint(
    services: Checking, client: Client, params: dict[str, str], fail: Fail
) -> str | None:
    hint = params.get("id_token_hint")
    if hint is None:
        return None
    try:
        claims = await id_token.check_hint(services, hint)
    except id_token.InvalidHint:
        raise fail(
            "invalid_request", "id_token_hint is not a valid ID token from this issuer"
        ) from None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


# Characters application/x-www-form-urlencoded leaves as they are (urlencode's quote_plus).
_FORM_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


def form_encode(values: dict[str, str]) -> str:
    """``urlencode(values)``, without its per-character quoting for values that need none
    (codes, states, most issuers' characters: the redirect after each login)."""
    safe = _FORM_SAFE.fullmatch
    return "&".join(
        f"{k if safe(k) else quote_plus(k)}={v if safe(v) else quote_plus(v)}"
        for k, v in values.items()
    )


def response_uri(redirect_uri: str, values: dict[str, str]) -> str:
    """Add response parameters to the redirect URI, keeping its query (RFC 6749 §3.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = form_encode(values)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_response(services: Checking, error: AuthorizationError) -> AuthorizationResponse:
    values = {
        "error": error.error,
        "error_description": error.description,
        "state": error.state,
        # RFC 9207 §2: iss on error responses too.
        "iss": services.settings.issuer,
    }
    return AuthorizationResponse(
        error.redirect_uri, {k: v for k, v in values.items() if v is not None}, error.response_mode
    )


async def issue_code(
    services: Checking,
    request: AuthorizationRequest,
    *,
    user_id: str,
    sid: str | None,
    session_hash: bytes | None,
    auth: id_token.Authentication,
    interaction_id: str | None = None,
    remember: tuple[User, int] | None = None,
) -> AuthorizationResponse | None:
    """Create a code bound to client, redirect URI and PKCE challenge (RFC 6749 §4.1.2).

    With ``interaction_id`` the interaction is consumed in the same write; None (no code)
    if it was consumed already: an interaction yields one code at most. What the caller's
    unit of work holds back goes with the code's write. ``remember`` (the user and the
    session's end): this worker keeps the code for the token request that follows
    (``CodeRepository.redeem``); only for requests none of whose scopes a role gates."""
    code = new_secret(AUTHORIZATION_CODE_PREFIX)
    stored = await services.store.codes.add(
        code_hash=digest(code),
        client_id=request.client_id,
        user_id=user_id,
        session_hash=session_hash,
        redirect_uri=request.redirect_uri,
        redirect_uri_given=request.redirect_uri_given,
        scopes=list(request.scopes),
        code_challenge=request.code_challenge,
        auth_time=auth.auth_time,
        ttl=profiles.code_ttl(
            await services.store.clients.get(request.client_id),
            services.settings.tokens.authorization_code_ttl,
        ),
        nonce=request.nonce,
        sid=sid,
        acr=auth.acr,
        amr=auth.amr,
        claims=request.claims,
        interaction_id=interaction_id,
        remember=remember,
        cnf={"jkt": request.dpop_jkt} if request.dpop_jkt else None,
        resources=list(request.resources) or None,
    )
    if not stored:
        return None
    values = {"code": code, "state": request.state, "iss": services.settings.issuer}
    # RFC 9207 §2: iss in the response lets the client detect mix-up attacks.
    return AuthorizationResponse(
        request.redirect_uri,
        {k: v for k, v in values.items() if v is not None},
        request.response_mode,
    )
