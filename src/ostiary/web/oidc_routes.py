"""UserInfo, discovery and RP-initiated logout."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ostiary.accounts import logout, signin
from ostiary.errors import OAuthError
from ostiary.oauth.bearer import DPoPRequest
from ostiary.oauth.params import parse_params, read_body
from ostiary.oidc import userinfo
from ostiary.resource.errors import InvalidRequest, ResourceError
from ostiary.services import Services
from ostiary.tokens import id_token
from ostiary.web.browser import SESSION_COOKIE, Browser
from ostiary.web.responses import NO_STORE, error_page, json_response, page, redirect, server_error

log = logging.getLogger("ostiary.web")


def _services(request: Request) -> Services:
    return request.app.state.services


CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, DPoP",
    "Access-Control-Expose-Headers": "WWW-Authenticate, DPoP-Nonce",
}


async def userinfo_endpoint(request: Request) -> Response:
    """OIDC Core §5.3: GET or POST; errors per RFC 6750 §3."""
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={**CORS, "Access-Control-Max-Age": "600"})
    services = _services(request)
    try:
        body = await _userinfo_body(request)
        body_token = userinfo.form_token(body, request.headers.get("content-type", ""))
        dpop = DPoPRequest(
            services.dpop,
            request.headers.getlist("dpop"),
            request.method,
            f"{services.settings.issuer}/userinfo",
        )
        claims = await userinfo.userinfo(
            services, request.headers.get("authorization"), body_token, dpop
        )
    except ResourceError as exc:
        return _refused(exc, services.dpop.algs)
    except Exception as exc:
        log.exception("unexpected error at the UserInfo endpoint")
        return server_error(exc)
    return json_response(claims, headers={**NO_STORE, **CORS})


async def _userinfo_body(request: Request) -> bytes | None:
    """A POSTed body (RFC 6750 §2.2 form-encoded token), read with the forms' size cap."""
    if request.method != "POST":
        return None
    try:
        return await read_body(request.stream())
    except OAuthError as exc:
        # RFC 6750 §3.1: a malformed request is invalid_request, 400.
        raise InvalidRequest(exc.description or "") from None


def _refused(exc: ResourceError, dpop_algs: str) -> Response:
    """RFC 6750 §3: the challenge, and its attributes as the JSON body (empty without
    credentials, as the challenge then carries no error). A refusal of the DPoP scheme
    gets its DPoP challenge first, then the Bearer one (RFC 9449 §7.1, §7.2)."""
    algs = dpop_algs if exc.scheme == "dpop" else None
    headers = {**NO_STORE, **CORS}
    headers.update(exc.headers(userinfo.REALM, algs))
    return json_response(exc.body(), exc.status, headers)


async def end_session(request: Request) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0 §2-§3."""
    services = _services(request)
    browser: Browser = request.app.state.browser
    try:
        if request.method == "POST":
            params = parse_params(await read_body(request.stream()))
        else:
            params = parse_params(request.scope.get("query_string", b""))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed request.")

    hint = None
    if "id_token_hint" in params:
        try:
            hint = await id_token.check_hint(services, params["id_token_hint"])
        except id_token.InvalidHint:
            return error_page("The id_token_hint was not issued by this server.")
    client_id = params.get("client_id")
    if hint is not None:
        aud = hint.get("aud")
        hinted = (
            aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) and aud else None)
        )
        # §2: client_id, when given with a hint, must be the hint's audience.
        if client_id is not None and client_id != hinted:
            return error_page("client_id does not match the id_token_hint.")
        client_id = hinted
    target = params.get("post_logout_redirect_uri")
    if target is not None:
        client = await services.store.clients.get(client_id) if client_id else None
        # §3: exact match against the client's registered post-logout URIs, or no redirect.
        if client is None or target not in client.post_logout_redirect_uris:
            return error_page(
                "The post_logout_redirect_uri is not registered for this application."
            )

    cookie = request.cookies.get(SESSION_COOKIE, "")
    signed_in = await signin.current(services, cookie)
    if signed_in is not None:
        hint_matches = (
            hint is not None
            and hint.get("sub") == signed_in.user.id
            and hint.get("sid", signed_in.session.sid) == signed_in.session.sid
        )
        confirmed = request.method == "POST" and browser.csrf_ok(
            "logout", cookie, params.get("csrf")
        )
        if not (hint_matches or confirmed):
            # §2: without proof the RP speaks for this user, ask the user.
            return page(
                "logout.html",
                csrf=browser.csrf_token("logout", cookie),
                username=signed_in.user.username,
                carry={
                    k: v
                    for k, v in {
                        "client_id": client_id,
                        "post_logout_redirect_uri": target,
                        "state": params.get("state"),
                    }.items()
                    if v is not None
                },
            )
        await logout.end_session(services, signed_in.session)

    if target is not None:
        state = params.get("state")
        location = target + (("&" if "?" in target else "?") + _state(state) if state else "")
        response = redirect(location)
    else:
        response = page("logged_out.html")
    browser.clear_session(response)
    return response


def _state(state: str) -> str:
    return urlencode({"state": state})
