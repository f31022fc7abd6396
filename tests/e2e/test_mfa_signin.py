"""The second factor of a sign-in at the authorization endpoint, against a real server.

TOTP codes are computed here from the secret (RFC 6238) the way an authenticator app would;
time is moved by computing the codes of other time steps, never by sleeping. ID tokens are
checked with joserfc against the server's JWKS: ``acr`` is the level reached
(``urn:ostiary:acr:pwd``, ``urn:ostiary:acr:mfa``, ``phr``), ``amr`` the RFC 8176 methods.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ostiary import clock
from ostiary.accounts.mfa import recovery, totp
from ostiary.domain.mfa import ACR_MFA, ACR_PHR, ACR_PWD
from ostiary.services import Services
from tests.conftest import LiveServer, own_server, unique
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    login_page,
    make_client,
    make_user,
    pkce_pair,
    query_of,
    redeem_code,
)

CODE_FIELD = "Authentication code"
LOW_LOCKOUT = {"account_threshold": 3, "ip_threshold": 100_000}


# -- helpers -------------------------------------------------------------------------------


def user_id_of(server: LiveServer, username: str) -> str:
    async def find(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        return user.id

    return server.call(find)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def now_step() -> int:
    return clock.now() // totp.STEP


def enrol_totp(server: LiveServer, username: str) -> str:
    """A confirmed TOTP factor for the user (confirmed with the previous step's code, so
    the current and next steps are still unused); its base32 secret."""
    user_id = user_id_of(server, username)

    async def enrol(services: Services) -> str:
        factor_id, secret = await totp.begin(
            services.store.factors, services.settings, user_id, "phone"
        )
        previous = code_at(secret, now_step() - 1)
        assert await totp.confirm(
            services.store.factors, services.settings, user_id, factor_id, previous
        )
        return secret

    return server.call(enrol)


def recovery_codes_for(server: LiveServer, username: str) -> list[str]:
    user_id = user_id_of(server, username)
    return server.call(lambda services: recovery.replace(services.store.factors, user_id))


def oidc_client(server: LiveServer, **spec: object) -> RegisteredClient:
    return make_client(server, scopes=["openid", "read"], first_party=True, **spec)


def params_for(client: RegisteredClient, **extra: str) -> tuple[str, dict[str, str]]:
    verifier, challenge = pkce_pair()
    return verifier, authorize_params(client, challenge, scope="openid", nonce="n-1", **extra)


def password_step(web: httpx.Client, params: dict[str, str], username: str) -> httpx.Response:
    """/authorize, then the password: the answer to the login form."""
    interaction, page = login_page(web, params)
    return web.post(
        f"{interaction}/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
    )


def to_second_factor(web: httpx.Client, params: dict[str, str], username: str) -> tuple[str, str]:
    """Up to the second-factor page: its URL and HTML."""
    answer = password_step(web, params, username)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/interaction/[^/]+/mfa", location), location
    page = web.get(location)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    return location, page.text


def send_code(web: httpx.Client, location: str, html: str, code: str, method: str = "totp"):  # type: ignore[no-untyped-def]
    return web.post(location, data={"csrf": csrf_of(html), "method": method, "code": code})


def id_token_claims(
    server: LiveServer,
    client: RegisteredClient,
    answer: httpx.Response,
    verifier: str,
    params: dict[str, str],
) -> dict[str, Any]:
    """Redeem the code the answer redirects to the client with; the ID token's claims,
    checked against the JWKS by joserfc."""
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    assert "code" in query, query
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        tokens = redeem_code(http, client, query["code"], verifier, params)
        assert tokens.status_code == 200, tokens.text
        keys = KeySet.import_key_set(http.get("/jwks.json").json())
    token = jwt.decode(tokens.json()["id_token"], keys)
    access = jwt.decode(tokens.json()["access_token"], keys)
    # RFC 9068 §2.2.1: the access token carries the same authentication facts.
    assert access.claims.get("acr") == token.claims["acr"]
    assert access.claims.get("amr") == token.claims["amr"]
    return dict(token.claims)


# -- TOTP ----------------------------------------------------------------------------------


def test_rfc6238_password_then_totp_issues_an_mfa_id_token(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    secret = enrol_totp(server, username)
    verifier, params = params_for(client)
    with browser(server) as web:
        location, html = to_second_factor(web, params, username)
        assert CODE_FIELD in html and "Use a recovery code" not in html
        # No session yet: the interaction page only leads back to the second factor.
        assert web.get(location.removesuffix("/mfa")).headers["location"] == location
        good = code_at(secret, now_step())
        wrong = send_code(web, location, html, "000000" if good != "000000" else "111111")
        assert wrong.status_code == 401 and "Wrong code." in wrong.text
        answer = send_code(web, location, wrong.text, good)
    claims = id_token_claims(server, client, answer, verifier, params)
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_rfc6238_s5_2_a_code_is_accepted_once(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    secret = enrol_totp(server, username)
    code = code_at(secret, now_step() + 1)
    with browser(server) as web:
        location, html = to_second_factor(web, params_for(client)[1], username)
        assert send_code(web, location, html, code).status_code == 303
    with browser(server) as web:
        location, html = to_second_factor(web, params_for(client)[1], username)
        replay = send_code(web, location, html, code)
        assert replay.status_code == 401, "the same code a second time"
        # An older step than the one used is refused too.
        older = send_code(web, location, replay.text, code_at(secret, now_step()))
        assert older.status_code == 401


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
def test_rfc6238_s5_2_one_step_of_drift_either_way(
    server: LiveServer, offset: int, accepted: bool
) -> None:
    client = oidc_client(server)
    username = make_user(server)
    user_id = user_id_of(server, username)

    # Enrolled without using any step, so a past step may still be accepted.
    async def enrol(services: Services) -> str:
        factor_id, secret = await totp.begin(
            services.store.factors, services.settings, user_id, "phone"
        )
        await services.store.factors.confirm(factor_id, last_step=0)
        return secret

    secret = server.call(enrol)
    with browser(server) as web:
        location, html = to_second_factor(web, params_for(client)[1], username)
        answer = send_code(web, location, html, code_at(secret, now_step() + offset))
    assert (answer.status_code == 303) is accepted, answer.text


def test_wrong_codes_count_toward_the_account_lockout(database_url: str) -> None:
    with own_server(
        database_url, lockout={"account_threshold": 3, "ip_threshold": 100_000}
    ) as live:
        client = oidc_client(live)
        username = make_user(live)
        secret = enrol_totp(live, username)
        with browser(live) as web:
            location, html = to_second_factor(web, params_for(client)[1], username)
            good = code_at(secret, now_step())
            bad = "123456" if good != "123456" else "654321"
            for _ in range(3):
                answer = send_code(web, location, html, bad)
                assert answer.status_code == 401
            locked = send_code(web, location, html, good)
        assert locked.status_code == 429 and "Retry-After" in locked.headers
        assert "Too many failed attempts" in locked.text
        # The password form is locked for the account as well.
        with browser(live) as web:
            answer = password_step(web, params_for(client)[1], username)
        assert answer.status_code == 429


def test_the_password_alone_does_not_forgive_wrong_codes(database_url: str) -> None:
    """A right password followed by a wrong code, again and again, still locks."""
    with own_server(
        database_url, lockout={"account_threshold": 3, "ip_threshold": 100_000}
    ) as live:
        client = oidc_client(live)
        username = make_user(live)
        enrol_totp(live, username)
        for _ in range(3):
            with browser(live) as web:
                location, html = to_second_factor(web, params_for(client)[1], username)
                assert send_code(web, location, html, "000001").status_code == 401
        with browser(live) as web:
            assert password_step(web, params_for(client)[1], username).status_code == 429


# -- recovery codes ------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    enrol_totp(server, username)
    codes = recovery_codes_for(server, username)
    with browser(server) as web:
        location, html = to_second_factor(web, params_for(client)[1], username)
        assert "Use a recovery code" in html
        page = web.get(location, params={"method": "recovery"})
        assert "Recovery code" in page.text and CODE_FIELD not in page.text
        answer = send_code(web, location, page.text, codes[0].upper(), method="recovery")
        # Signed in; the page says how many codes are left before going on.
        assert answer.status_code == 200, answer.text
        assert "<strong>9</strong> unused recovery codes left" in answer.text
        cont = re.search(r'href="(/interaction/[^"]+)"', answer.text)
        assert cont and web.get(cont.group(1)).status_code == 303
    with browser(server) as web:
        location, _ = to_second_factor(web, params_for(client)[1], username)
        page = web.get(location, params={"method": "recovery"})
        again = send_code(web, location, page.text, codes[0], method="recovery")
        assert again.status_code == 401

    user_id = user_id_of(server, username)

    async def left(services: Services) -> int:
        return await services.store.factors.recovery_codes_left(user_id)

    assert server.call(left) == 9


# -- policy --------------------------------------------------------------------------------


def enrol_through_the_page(web: httpx.Client, location: str) -> tuple[str, httpx.Response]:
    """The enrolment page: read the secret shown as text, confirm with its current code;
    the secret and the page of recovery codes."""
    page = web.get(location)
    assert "Set up two-step verification" in page.text, page.text
    assert "<svg" in page.text and "otpauth://totp/" in page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text)
    assert secret
    done = web.post(
        f"{location}/enrol",
        data={"csrf": csrf_of(page.text), "code": code_at(secret.group(1), now_step())},
    )
    assert done.status_code == 200, done.text
    assert len(re.findall(r"<li><code>[0-9a-z]{5}-[0-9a-z]{5}</code></li>", done.text)) == 10
    return secret.group(1), done


def test_a_client_requiring_mfa_leads_a_user_without_a_factor_through_enrolment(
    server: LiveServer,
) -> None:
    client = oidc_client(server)

    async def require(services: Services) -> None:
        await services.store.clients.update(client.client_id, require_mfa=True)

    server.call(require)
    username = make_user(server)
    verifier, params = params_for(client)
    with browser(server) as web:
        answer = password_step(web, params, username)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.endswith("/mfa") and "code=" not in location
        # Leaving for the client now gets no code: the interaction leads back here.
        assert web.get(location.removesuffix("/mfa")).headers["location"] == location
        _, done = enrol_through_the_page(web, location)
        cont = re.search(r'href="(/interaction/[^"]+)"', done.text)
        assert cont
        answer = web.get(cont.group(1))
    claims = id_token_claims(server, client, answer, verifier, params)
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_role_requiring_mfa_applies_to_its_holders(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    user_id = user_id_of(server, username)
    role = unique("admins")

    async def grant(services: Services) -> None:
        await services.store.access.create_role(role)
        await services.store.access.update_role(role, require_mfa=True)
        await services.store.access.assign(user_id, role)

    server.call(grant)
    with browser(server) as web:
        answer = password_step(web, params_for(client)[1], username)
        assert answer.headers["location"].endswith("/mfa")
        assert "Set up two-step verification" in web.get(answer.headers["location"]).text


def test_oidc_core_3_1_2_6_phr_without_a_passkey_is_access_denied(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    enrol_totp(server, username)
    _, params = params_for(client, acr_values=ACR_PHR)
    with browser(server) as web:
        answer = password_step(web, params, username)
    assert answer.status_code == 303
    query = query_of(answer.headers["location"])
    assert query["error"] == "access_denied" and "code" not in query
    assert query["state"] == params["state"]


def test_acr_values_mfa_steps_up_a_password_session(server: LiveServer) -> None:
    """A password session meets one factor; asked for two, only the second is asked for
    (no new password), and the ID token says both."""
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        verifier, params = params_for(client)
        first = password_step(web, params, username)
        claims = id_token_claims(server, client, first, verifier, params)
        assert claims["acr"] == ACR_PWD and claims["amr"] == ["pwd"]
        secret = enrol_totp(server, username)
        verifier, params = params_for(client, acr_values=ACR_MFA)
        step_up = web.get("/authorize", params=params)
        assert step_up.status_code == 303, step_up.text
        location = step_up.headers["location"]
        assert location.endswith("/mfa")
        page = web.get(location)
        assert 'name="password"' not in page.text and CODE_FIELD in page.text
        answer = send_code(web, location, page.text, code_at(secret, now_step()))
        claims = id_token_claims(server, client, answer, verifier, params)
        assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp", "mfa"]
        # prompt=none with a session at that level now: a code without any page.
        verifier, params = params_for(client, acr_values=ACR_MFA, prompt="none")
        silent = web.get("/authorize", params=params)
        assert "code" in query_of(silent.headers["location"])


def test_prompt_none_below_the_level_asked_is_interaction_required(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        verifier, params = params_for(client)
        id_token_claims(server, client, password_step(web, params, username), verifier, params)
        _, params = params_for(client, acr_values=ACR_MFA, prompt="none")
        answer = web.get("/authorize", params=params)
    assert query_of(answer.headers["location"])["error"] == "interaction_required"


def test_mfa_off_asks_no_second_factor(database_url: str) -> None:
    with own_server(database_url, mfa="off") as live:
        client = oidc_client(live)
        username = make_user(live)
        enrol_totp(live, username)
        verifier, params = params_for(client)
        with browser(live) as web:
            answer = password_step(web, params, username)
        claims = id_token_claims(live, client, answer, verifier, params)
        assert claims["acr"] == ACR_PWD


def test_mfa_required_for_everyone(database_url: str) -> None:
    with own_server(database_url, mfa="required") as live:
        client = oidc_client(live)
        username = make_user(live)
        with browser(live) as web:
            answer = password_step(web, params_for(client)[1], username)
            assert answer.headers["location"].endswith("/mfa")


def test_another_browser_cannot_use_a_pending_second_factor(server: LiveServer) -> None:
    client = oidc_client(server)
    username = make_user(server)
    secret = enrol_totp(server, username)
    with browser(server) as web:
        location, html = to_second_factor(web, params_for(client)[1], username)
    with browser(server) as other:
        page = other.get(location)
        assert page.status_code == 400 and "expired" in page.text
        answer = other.post(
            location,
            data={"csrf": csrf_of(html), "method": "totp", "code": code_at(secret, now_step())},
        )
        assert answer.status_code == 400


def test_a_role_requiring_mfa_added_later_steps_up_the_session_at_the_next_request(
    server: LiveServer,
) -> None:
    """A policy made stricter bites at the user's next authorization request: the
    password session is not reused below the new level."""
    client = oidc_client(server)
    username = make_user(server)
    user_id = user_id_of(server, username)
    role = unique("finance")
    with browser(server) as web:
        verifier, params = params_for(client)
        first = password_step(web, params, username)
        assert id_token_claims(server, client, first, verifier, params)["acr"] == ACR_PWD

        async def tighten(services: Services) -> None:
            await services.store.access.create_role(role)
            await services.store.access.update_role(role, require_mfa=True)
            await services.store.access.assign(user_id, role)

        server.call(tighten)
        answer = web.get("/authorize", params=params_for(client)[1])
        assert answer.status_code == 303 and answer.headers["location"].endswith("/mfa")
        assert "Set up two-step verification" in web.get(answer.headers["location"]).text
