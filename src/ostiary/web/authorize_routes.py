"""Authorization endpoint and the login/consent interaction behind it."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.accounts import access as rbac
from ostiary.accounts import signin, throttle
from ostiary.accounts.mfa import policy
from ostiary.domain import identifiers
from ostiary.domain.access import Gates
from ostiary.domain.clients import Client
from ostiary.domain.interactions import Interaction, InteractionState, MfaReads
from ostiary.domain.mfa import ACR_PHR, AMR_PASSWORD
from ostiary.domain.users import User
from ostiary.errors import AuthorizationError, OAuthError, UnsafeRedirectError
from ostiary.oauth import authorize
from ostiary.oauth.authorize import AuthorizationRequest, AuthorizationResponse
from ostiary.oauth.params import parse_params, read_body
from ostiary.oidc import prompt
from ostiary.oidc.prompt import Step
from ostiary.services import Services
from ostiary.web.account_auth import login_failed
from ostiary.web.browser import BROWSER_COOKIE, SESSION_COOKIE, Browser
from ostiary.web.responses import error_page, form_post, page, redirect, slotted_page

log = logging.getLogger("ostiary.web")

_INTERACTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXPIRED = (
    "This sign-in request has expired or was opened in another browser. "
    "Go back to the application and start again."
)


def _services(request: Request) -> Services:
    return request.app.state.services


def _browser(request: Request) -> Browser:
    return request.app.state.browser


def deliver(response: AuthorizationResponse) -> Response:
    """query: a 303 redirect; form_post: an auto-submitting form (Form Post Response Mode)."""
    if response.response_mode == "form_post":
        return form_post(response.redirect_uri, response.params)
    return redirect(response.location())


async def authorization_endpoint(request: Request) -> Response:
    """RFC 6749 §3.1 and OIDC Core §3.1.2.1: GET and POST are both supported."""
    services = _services(request)
    try:
        # The request's size is capped (MAX_REQUEST) before anything is read from it.
        if request.method == "POST":
            body = await read_body(request.stream(), authorize.MAX_REQUEST)
            params = parse_params(body, authorize.MAX_REQUEST)
        else:
            query = request.scope.get("query_string", b"")
            params = parse_params(query, authorize.MAX_REQUEST)
        client, asked = await authorize.validate(services, params)
        signed_in = await signin.current(services, request.cookies.get(SESSION_COOKIE))
        auth_request = await _for_user(services, asked, signed_in.user.id) if signed_in else asked
        step = await prompt.next_step(services, client, auth_request, signed_in)
    except UnsafeRedirectError as exc:
        return error_page(exc.message)
    except AuthorizationError as exc:
        return deliver(authorize.error_response(services, exc))
    except OAuthError as exc:
        return error_page(exc.description or exc.error)

    if step is Step.ISSUE:
        assert signed_in is not None
        issued = await _issue(services, auth_request, signed_in, authenticated_here=False)
        assert issued is not None  # no interaction to consume: always stored
        return deliver(issued)

    browser = _browser(request)
    browser_id = browser.browser_id(request) or browser.new_browser_id()
    interaction = Interaction(
        id=secrets.token_urlsafe(24),
        browser_hash=hashlib.sha256(browser_id.encode()).digest(),
        client_id=client.client_id,
        request=asked.to_json(),
        expires_at=clock.now() + services.settings.sessions.interaction_ttl,
    )
    buttons = await services.store.interactions.add(interaction)
    if step is Step.SECOND_FACTOR:
        assert signed_in is not None
        state = InteractionState(interaction, {}, buttons)
        response = await _step_up(services, state, signed_in, client)
    elif step is Step.LOGIN:
        # The login page is the answer itself (no redirect to the interaction page: one
        # request and one read fewer per login); its forms post to the
        # interaction, and anything after the login goes through the interaction page.
        state = InteractionState(interaction, {}, buttons)
        response = await _login_page(request, state, browser_id, client=client)
    else:
        response = redirect(f"/interaction/{interaction.id}")
    browser.set_cookie(response, BROWSER_COOKIE, browser_id, services.settings.sessions.ttl)
    return response


async def owe_second_factor(
    services: Services,
    state: InteractionState,
    user: User,
    amr: tuple[str, ...],
    owed: policy.SecondFactor,
) -> Response:
    """Record that ``user`` passed ``amr`` and owes ``owed``; send the browser to the
    second-factor page (``web/interaction_mfa.py``). A level no factor of the user reaches
    and none can be enrolled for during a sign-in (a passkey, for ``phr``) ends the
    request with ``access_denied`` (OIDC Core §3.1.2.6)."""
    interaction = state.interaction
    if owed.enrol and owed.level == ACR_PHR:
        await services.store.interactions.delete(interaction.id)
        request = AuthorizationRequest.from_json(interaction.request)
        error = request.fail("access_denied", "a passkey is required and the user has none")
        return deliver(authorize.error_response(services, error))
    pending = {"amr": list(amr), "level": owed.level, "enrol": owed.enrol}
    await services.store.interactions.set_pending(interaction.id, user.id, pending)
    return redirect(f"/interaction/{interaction.id}/mfa")


async def _owed_after_password(
    services: Services, state: InteractionState, mfa: MfaReads | None
) -> policy.SecondFactor | None:
    """What a user who just gave the right password still owes in this interaction;
    ``mfa``: the account's factors and access requirement, read with the account."""
    if services.settings.mfa == "off":
        return None
    assert mfa is not None  # read with the account whose password was right
    client = await services.store.clients.get(state.interaction.client_id)
    asked = prompt.asked_level(AuthorizationRequest.from_json(state.interaction.request))
    required = mfa.required_by_access or policy.applies(services.settings, client)
    return policy.owed(services.settings, mfa.factor_kinds, required, asked)


async def _step_up(
    services: Services, state: InteractionState, signed_in: signin.SignedIn, client: Client
) -> Response:
    """A session reused here is below the level the request or the policy needs
    (``Step.SECOND_FACTOR``): its user owes a second factor."""
    request = AuthorizationRequest.from_json(state.interaction.request)
    needed = await prompt.needed_level(
        services, client, request, signed_in, authenticated_here=False
    )
    factors = await services.store.factors.for_user(signed_in.user.id)
    owed = policy.owed(services.settings, policy.confirmed_kinds(factors), True, needed)
    assert owed is not None  # a step-up is only asked for when a level is missing
    return await owe_second_factor(services, state, signed_in.user, signed_in.session.amr, owed)


async def _issue(
    services: Services,
    auth_request: AuthorizationRequest,
    signed_in: signin.SignedIn,
    *,
    authenticated_here: bool,
    interaction_id: str | None = None,
    gates: Gates | None = None,
) -> AuthorizationResponse | None:
    # With the scopes' gates read in this request and none of them gated, the code is kept
    # for the token request that follows, which then need not read it back.
    ungated = gates is not None and not any(s in gates for s in auth_request.scopes)
    remember = (signed_in.user, signed_in.session.expires_at) if ungated else None
    return await authorize.issue_code(
        services,
        auth_request,
        user_id=signed_in.user.id,
        sid=signed_in.session.sid,
        session_hash=signed_in.session.id_hash,
        auth=prompt.authentication(signed_in, authenticated_here=authenticated_here),
        interaction_id=interaction_id,
        remember=remember,
    )


async def _for_user(
    services: Services,
    auth_request: AuthorizationRequest,
    user_id: str,
    gates: Gates | None = None,
) -> AuthorizationRequest:
    """The request with only the scopes this user's roles allow (role-gated scopes);
    ``gates``: those of the interaction's scopes, read with it."""
    allowed = await rbac.grantable(services, user_id, frozenset(auth_request.scopes), gates)
    if allowed == frozenset(auth_request.scopes):
        return auth_request
    return dataclasses.replace(auth_request, scopes=tuple(sorted(allowed)))


def _addressed(request: Request) -> tuple[str, str] | None:
    """The interaction id of this URL and the browser's id, if both are well formed."""
    browser_id = Browser.browser_id(request)
    interaction_id = request.path_params["interaction_id"]
    if not browser_id or not _INTERACTION_ID.fullmatch(interaction_id):
        return None
    return interaction_id, browser_id


def _owned(state: InteractionState | None, browser_id: str) -> bool:
    """The interaction exists and was started by this browser."""
    return state is not None and secrets.compare_digest(
        state.interaction.browser_hash, hashlib.sha256(browser_id.encode()).digest()
    )


async def load(request: Request) -> tuple[InteractionState, str] | None:
    """The live interaction of this URL (with its gates and login buttons), if it belongs
    to this browser."""
    addressed = _addressed(request)
    if addressed is None:
        return None
    interaction_id, browser_id = addressed
    state = await _services(request).store.interactions.state(interaction_id)
    if state is None or not _owned(state, browser_id):
        return None
    return state, browser_id


async def interaction_page(request: Request) -> Response:
    loaded = await load(request)
    if loaded is None:
        return error_page(EXPIRED)
    state, browser_id = loaded
    interaction = state.interaction
    if interaction.pending_user_id is not None:
        # A second factor is owed: nothing else happens here until it is given.
        return redirect(f"/interaction/{interaction.id}/mfa")
    services = _services(request)
    client = await services.store.clients.get(interaction.client_id)
    if client is None:
        await services.store.interactions.delete(interaction.id)
        return error_page("The application is no longer registered.")
    signed_in = await signin.current(services, request.cookies.get(SESSION_COOKIE))
    decided = await _decide(services, state, client, signed_in)
    if isinstance(decided, Response):
        return decided
    step, auth_request = decided
    if step is Step.LOGIN:
        return await _login_page(request, state, browser_id, client=client)
    assert signed_in is not None
    if step is Step.SECOND_FACTOR:
        return await _step_up(services, state, signed_in, client)
    if step is Step.CONSENT:
        return page(
            "consent.html",
            interaction_id=interaction.id,
            csrf=_browser(request).csrf_token(interaction.id, browser_id),
            client_name=client.name,
            scopes=auth_request.scopes,
            username=signed_in.user.username,
        )
    return await _finish(services, interaction, signed_in, auth_request, gates=state.gates)


async def _decide(
    services: Services,
    state: InteractionState,
    client: Client,
    signed_in: signin.SignedIn | None,
) -> tuple[Step, AuthorizationRequest] | Response:
    """The next step of the interaction, with the request narrowed to what this user may be
    granted; or the error to send back to the client."""
    interaction = state.interaction
    auth_request = AuthorizationRequest.from_json(interaction.request)
    if signed_in is not None:
        # The consent page shows only what this user may be granted.
        auth_request = await _for_user(services, auth_request, signed_in.user.id, state.gates)
    try:
        step = await prompt.next_step(
            services, client, auth_request, signed_in, authenticated_here=interaction.authenticated
        )
    except AuthorizationError as exc:
        # The login happened but cannot satisfy the request (OIDC Core §5.5.1.1, §3.1.2.2).
        await services.store.interactions.delete(interaction.id)
        return deliver(authorize.error_response(services, exc))
    return step, auth_request


async def after_login(
    services: Services, state: InteractionState, signed_in: signin.SignedIn
) -> Response | None:
    """Straight from the login POST to the client when nothing is left to ask (the
    interaction page would only issue the code): one redirect and four statements fewer per
    login; what the login's unit of work holds back goes with the code. None when a
    consent page (or anything else) follows: the browser then GETs the interaction page,
    so a page is never the answer to a POST."""
    interaction = dataclasses.replace(state.interaction, authenticated=True)
    state = dataclasses.replace(state, interaction=interaction)
    client = await services.store.clients.get(state.interaction.client_id)
    if client is None:
        return None
    decided = await _decide(services, state, client, signed_in)
    if isinstance(decided, Response):
        return decided
    step, auth_request = decided
    if step is not Step.ISSUE:
        return None
    return await _finish(services, state.interaction, signed_in, auth_request, state.gates)


async def _login_page(
    request: Request,
    state: InteractionState,
    browser_id: str,
    *,
    client: Client | None = None,
    error: str | None = None,
    username: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    services = _services(request)
    interaction = state.interaction
    client = client or await services.store.clients.get(interaction.client_id)
    client_name = client.name if client else interaction.client_id
    if username is None:
        # OIDC Core §3.1.2.1: login_hint fills in the username.
        username = (interaction.request.get("login_hint") or "")[:150]
    csrf = _browser(request).csrf_token(interaction.id, browser_id)
    context = {
        "client_name": client_name,
        "error": error,
        "username": username,
        "local_login": services.settings.local_login,
        "providers": state.buttons,
        "mfa_off": services.settings.mfa == "off",
    }
    slots = {"interaction_id": interaction.id, "csrf": csrf}
    # The blank form of every sign-in comes from the rendered-once copy; a page with a
    # username or an error in it is rendered for this request only (nothing a person
    # typed is kept).
    if username or error:
        response = page("login.html", status, **slots, **context)
    else:
        response = slotted_page("login.html", status, slots, **context)
    response.headers.update(headers or {})
    return response


async def _finish(
    services: Services,
    interaction: Interaction,
    signed_in: signin.SignedIn,
    auth_request: AuthorizationRequest,
    gates: Gates | None = None,
) -> Response:
    """Issue the code for ``auth_request``: the interaction's request already narrowed to
    this user's roles (``_for_user``) by the caller, in this same request."""
    # The interaction is consumed in the same write as the code: single use even if the
    # form is posted twice (the second finds it gone and gets no code).
    issued = await _issue(
        services,
        auth_request,
        signed_in,
        authenticated_here=interaction.authenticated,
        interaction_id=interaction.id,
        gates=gates,
    )
    return error_page(EXPIRED) if issued is None else deliver(issued)


async def _posted(request: Request) -> tuple[InteractionState, str, dict[str, str]] | Response:
    """The interaction a form was posted to, with the form, if the interaction is live,
    belongs to this browser and the CSRF token is right."""
    loaded = await load(request)
    if loaded is None:
        return error_page(EXPIRED)
    state, browser_id = loaded
    try:
        form = parse_params(await read_body(request.stream()))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed form.")
    return csrf_checked(request, state, browser_id, form) or (state, browser_id, form)


def csrf_checked(
    request: Request, state: InteractionState, browser_id: str, form: dict[str, str]
) -> Response | None:
    """The error page for a form without this interaction's CSRF token (None: it has it)."""
    if _browser(request).csrf_ok(state.interaction.id, browser_id, form.get("csrf")):
        return None
    return error_page("The form has expired. Go back to the application and start again.", 403)


async def login_submit(request: Request) -> Response:
    services = _services(request)
    try:
        form = parse_params(await read_body(request.stream()))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed form.")
    username = form.get("username", "")[:150]
    # RFC 8265 §3.3: the account and its lockout counter are found by the comparison
    # form (case and width folded), computed once here.
    name_key = identifiers.username_key(username.strip())
    ip = request.client.host if request.client else None
    keys = [throttle.account_key(username, key=name_key), throttle.ip_key(ip)]
    addressed = _addressed(request)
    if addressed is None:
        return error_page(EXPIRED)
    interaction_id, browser_id = addressed
    # The interaction, the throttle state and the account in one statement (one
    # round trip instead of three). The throttle and the account are only read here;
    # nothing is decided on them unless the interaction and its CSRF token check out.
    lookup = name_key if services.settings.local_login else None
    reads = await services.store.interactions.login_state(interaction_id, keys, lookup)
    state = reads.state
    if state is None or not _owned(state, browser_id):
        return error_page(EXPIRED)
    if refused := csrf_checked(request, state, browser_id, form):
        return refused
    checked = services.throttle.checked(reads.throttle)
    account = reads.account
    interaction = state.interaction
    if wait := checked.wait:
        await login_failed(
            services, ip, "locked", client_id=interaction.client_id, details={"username": username}
        )
        return await _login_page(
            request,
            state,
            browser_id,
            error=throttle.locked_message(wait),
            username=username,
            status=429,
            headers={"Retry-After": str(wait)},
        )
    check = await signin.check_password(
        services, username, form.get("password", ""), account=(account,)
    )
    user = check.user
    if user is None:
        await services.throttle.failed(keys)
        await login_failed(
            services,
            ip,
            check.reason,
            user_id=check.user_id,
            client_id=interaction.client_id,
            details={"username": username},
        )
        return await _login_page(
            request,
            state,
            browser_id,
            error="Wrong username or password.",
            username=username,
            status=401,
        )
    if owed := await _owed_after_password(services, state, reads.mfa):
        # No session yet, and the account's failures are not forgiven until the second
        # factor is right too: a stolen password buys no more guesses at the code.
        return await owe_second_factor(services, state, user, (AMR_PASSWORD,), owed)
    await services.throttle.succeeded(keys[:1], checked)
    # The audit row and a new session's row are held back and written with the code (or
    # with the interaction's next step): one round trip instead of three. The unit of
    # work writes them before the response, on every path.
    async with services.store.unit_of_work():
        await services.audit.record(
            "login.success",
            actor=f"user:{user.id}",
            user_id=user.id,
            ip=ip,
            client_id=interaction.client_id,
            details={"method": "pwd"},
        )
        cookie = request.cookies.get(SESSION_COOKIE)
        token, signed_in = await signin.sign_in(services, user, cookie)
        response = await after_login(services, state, signed_in)
        if response is None:
            await services.store.interactions.mark_authenticated(interaction.id)
            response = redirect(f"/interaction/{interaction.id}")
    _browser(request).set_session(response, token)
    return response


async def consent_submit(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    state, _browser_id, form = posted
    interaction = state.interaction
    services = _services(request)
    signed_in = await signin.current(services, request.cookies.get(SESSION_COOKIE))
    if signed_in is None:
        return redirect(f"/interaction/{interaction.id}")
    if form.get("decision") != "allow":
        return await _deny(services, interaction)
    auth_request = await _for_user(
        services,
        AuthorizationRequest.from_json(interaction.request),
        signed_in.user.id,
        state.gates,
    )
    await services.store.consents.grant(
        signed_in.user.id, interaction.client_id, frozenset(auth_request.scopes)
    )
    await services.audit.record(
        "consent.granted",
        actor=f"user:{signed_in.user.id}",
        user_id=signed_in.user.id,
        client_id=interaction.client_id,
        details={"scope": " ".join(auth_request.scopes)},
    )
    return await _finish(services, interaction, signed_in, auth_request, gates=state.gates)


async def abort(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    return await _deny(_services(request), posted[0].interaction)


async def _deny(services: Services, interaction: Interaction) -> Response:
    await services.store.interactions.delete(interaction.id)
    auth_request = AuthorizationRequest.from_json(interaction.request)
    error = auth_request.fail("access_denied", "the user denied the request")
    return deliver(authorize.error_response(services, error))
