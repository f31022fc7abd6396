"""Sign-in with upstream providers: start, callback; linked identities on the account page.

Every failure is a page with a 4xx/502 status and a message a person can act on; the
reason goes to the log and the audit trail (never a token or a secret).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.accounts import signin
from ostiary.accounts.mfa import policy
from ostiary.crypto.sealing import UnsealError
from ostiary.domain.mfa import ACR_MFA, meets
from ostiary.federation import flow, login
from ostiary.federation.errors import FederationError
from ostiary.federation.http import Upstream
from ostiary.federation.providers import NAME, Provider
from ostiary.federation.sealing import client_secrets
from ostiary.oauth.authorize import AuthorizationRequest
from ostiary.oidc import prompt
from ostiary.services import Services
from ostiary.storage.repos.federation_identities import FederationRepository
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.web import authorize_routes as authz
from ostiary.web.account_auth import csrf, login_failed, signed_in_page, signed_in_post
from ostiary.web.browser import BROWSER_COOKIE, SESSION_COOKIE, Browser
from ostiary.web.responses import error_page, page, redirect

log = logging.getLogger("ostiary.federation")

_INTERACTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# RFC 6749 §4.1.2.1 error codes are ASCII without quotes or backslashes.
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")
NOTICES = {
    "linked": "The identity was linked to your account.",
    "unlinked": "The identity was unlinked.",
    "last-method": "This is your only way to sign in; set a password or link another first.",
}


def _services(request: Request) -> Services:
    return request.app.state.services


def _upstream(request: Request) -> Upstream:
    state = request.app.state
    if not hasattr(state, "federation_upstream"):
        state.federation_upstream = Upstream()
    return state.federation_upstream


def providers(services: Services) -> ProviderRepository:
    return ProviderRepository(services.engine, client_secrets(services.settings))


async def login_buttons(services: Services) -> list[tuple[str, str]]:
    """(name, display name) of each enabled provider, for the login pages."""
    return await providers(services).buttons()


async def _provider(services: Services, name: str) -> Provider:
    provider = await providers(services).get(name) if NAME.fullmatch(name) else None
    if provider is None or not provider.enabled:
        raise FederationError("This sign-in option is not available.", 404)
    return provider


def _to_upstream(request: Request, services: Services, url: str, browser_id: str) -> Response:
    """Off to the provider, with the browser cookie its callback checks the flow against."""
    response = redirect(url)
    request.app.state.browser.set_cookie(
        response, BROWSER_COOKIE, browser_id, services.settings.sessions.ttl
    )
    return response


def _failure(request: Request, exc: FederationError) -> Response:
    log.warning("federation %s: %s", request.url.path, exc.detail)
    return error_page(exc.message, exc.status)


async def start(request: Request) -> Response:
    """GET /federation/{name}/login[?interaction=ID]: off to the upstream provider."""
    services = _services(request)
    browser_id = Browser.browser_id(request)
    try:
        provider = await _provider(services, request.path_params["name"])
        interaction_id = request.query_params.get("interaction")
        if interaction_id is not None:
            await _check_interaction(services, interaction_id, browser_id)
        browser_id = browser_id or Browser.new_browser_id()
        url = await flow.start(
            services,
            _upstream(request),
            provider,
            browser_id=browser_id,
            interaction_id=interaction_id,
        )
    except FederationError as exc:
        return _failure(request, exc)
    return _to_upstream(request, services, url, browser_id)


async def _check_interaction(
    services: Services, interaction_id: str, browser_id: str | None
) -> None:
    expired = FederationError(
        "This sign-in request has expired or was opened in another browser. "
        "Go back to the application and start again."
    )
    if not browser_id or not _INTERACTION_ID.fullmatch(interaction_id):
        raise expired
    interaction = await services.store.interactions.get_live(interaction_id)
    if interaction is None or not secrets.compare_digest(
        interaction.browser_hash, hashlib.sha256(browser_id.encode()).digest()
    ):
        raise expired


async def callback(request: Request) -> Response:
    """GET /federation/{name}/callback: RFC 6749 §4.1.2 response from the upstream."""
    services = _services(request)
    query = request.query_params
    name = request.path_params["name"]
    ip = request.client.host if request.client else None
    try:
        for param in ("state", "code", "error", "iss"):
            if len(query.getlist(param)) > 1:
                raise FederationError("The provider's answer is malformed.", 400)
        provider = await _provider(services, name)
        pending = await flow.take(services, name, query.get("state"), Browser.browser_id(request))
        error = query.get("error")
        if error is not None:
            raise _upstream_refusal(provider, error)
        code = query.get("code")
        if not code or len(code) > 2048:
            raise FederationError("The provider's answer has no authorization code.", 400)
        identity, tokens = await flow.finish(
            services,
            _upstream(request),
            provider,
            pending,
            code=code,
            issuer_param=query.get("iss"),
        )
        outcome = await login.complete(
            services, provider, identity, tokens, link_user_id=pending.link_user_id, ip=ip
        )
    except FederationError as exc:
        details = {"provider": name[:64], "detail": exc.detail[:200]}
        await login_failed(services, ip, "federation", details=details)
        return _failure(request, exc)
    except UnsealError:
        log.error("federation %s: a sealed value does not open (secret key changed?)", name)
        return error_page("Signing in with this provider is misconfigured.", 502)
    if pending.link_user_id is not None:
        return redirect("/account/identities?notice=linked")
    level = policy.upstream_level(provider.trust_mfa, outcome.amr, outcome.acr)
    if pending.interaction_id is not None and not meets(level, (ACR_MFA,)):
        # The MFA policy holds for federated sign-ins too: an upstream not trusted for MFA
        # counts as one factor, and the second is asked for here.
        owed = await _owed(services, pending.interaction_id, outcome.user.id)
        if owed is not None:
            state = await services.store.interactions.state(pending.interaction_id)
            if state is not None:
                return await authz.owe_second_factor(
                    services, state, outcome.user, outcome.amr, owed
                )
    token = await signin.start_session(
        services,
        outcome.user,
        request.cookies.get(SESSION_COOKIE),
        amr=outcome.amr,
        acr=level,
    )
    if pending.interaction_id is not None:
        await services.store.interactions.mark_authenticated(pending.interaction_id)
        response = redirect(f"/interaction/{pending.interaction_id}")
    else:
        response = redirect("/account")
    request.app.state.browser.set_session(response, token)
    return response


async def _owed(
    services: Services, interaction_id: str, user_id: str
) -> policy.SecondFactor | None:
    interaction = await services.store.interactions.get_live(interaction_id)
    if interaction is None:
        return None
    client = await services.store.clients.get(interaction.client_id)
    request = AuthorizationRequest.from_json(interaction.request)
    asked = prompt.asked_level(request)
    return await policy.second_factor(services.store, services.settings, user_id, client, asked)


def _upstream_refusal(provider: Provider, error: str) -> FederationError:
    """RFC 6749 §4.1.2.1: show the code only; the description is the upstream's text."""
    if error == "access_denied":
        return FederationError(
            f"Sign-in with {provider.display_name} was cancelled.", 400, detail="access_denied"
        )
    code = error if _ERROR_CODE.fullmatch(error) else "invalid"
    return FederationError(
        f"{provider.display_name} could not sign you in (error: {code}).",
        502,
        detail=f"upstream error {code}",
    )


# -- account page: linked identities ---------------------------------------------------------


@signed_in_page
async def identities(request: Request, who: signin.SignedIn) -> Response:
    services = _services(request)
    linked = await FederationRepository(services.engine).for_user(who.user.id)
    names = dict(await login_buttons(services))
    return page(
        "account_identities.html",
        csrf=csrf(request),
        user=who.user,
        notice=NOTICES.get(request.query_params.get("notice", "")),
        identities=[
            {
                "provider": i.provider,
                "label": names.get(i.provider, i.provider),
                "subject": i.subject,
                "email": i.email,
            }
            for i in linked
        ],
        providers=sorted(names.items(), key=lambda item: item[1]),
    )


@signed_in_post
async def link(request: Request, who: signin.SignedIn, form: dict[str, str]) -> Response:
    """POST: link another upstream identity to the signed-in account."""
    services = _services(request)
    browser_id = Browser.browser_id(request) or Browser.new_browser_id()
    try:
        provider = await _provider(services, form.get("provider", ""))
        url = await flow.start(
            services, _upstream(request), provider, browser_id=browser_id, link_user_id=who.user.id
        )
    except FederationError as exc:
        return _failure(request, exc)
    return _to_upstream(request, services, url, browser_id)


@signed_in_post
async def unlink(request: Request, who: signin.SignedIn, form: dict[str, str]) -> Response:
    services = _services(request)
    repo = FederationRepository(services.engine)
    linked = await repo.for_user(who.user.id)
    has_password = bool(who.user.password_hash) and services.settings.local_login
    if len(linked) <= 1 and not has_password:
        return redirect("/account/identities?notice=last-method")
    if await repo.unlink(who.user.id, form.get("provider", ""), form.get("subject", "")):
        await services.audit.record(
            "federation.unlinked",
            actor=f"user:{who.user.id}",
            user_id=who.user.id,
            details={"provider": form.get("provider", "")[:64]},
        )
    return redirect("/account/identities?notice=unlinked")


routes = [
    Route("/federation/{name}/login", start, methods=["GET"]),
    Route("/federation/{name}/callback", callback, methods=["GET"]),
    Route("/account/identities", identities, methods=["GET"]),
    Route("/account/identities/link", link, methods=["POST"]),
    Route("/account/identities/unlink", unlink, methods=["POST"]),
]
