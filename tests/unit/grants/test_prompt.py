"""What an authorization request needs next: login, consent, or the code (OIDC Core
§3.1.2.1 prompt and max_age, §3.1.2.3/§3.1.2.4 consent), on the in-memory store."""

from __future__ import annotations

import pytest

from ostiary import clock
from ostiary.accounts.signin import SignedIn
from ostiary.errors import AuthorizationError
from ostiary.oauth import authorize
from ostiary.oidc.prompt import Step, next_step
from ostiary.services import Services
from tests.unit.grants.world import App, authorization_params, register_app, sign_in

pytestmark = pytest.mark.anyio


async def _step(
    services: Services, app: App, signed_in: SignedIn | None, **params: str | None
) -> Step | str:
    """The next step, or the error code a prompt=none request is answered with."""
    client, request = await authorize.validate(services, authorization_params(app, **params))
    try:
        return await next_step(services, client, request, signed_in)
    except AuthorizationError as exc:
        assert exc.redirect_uri == request.redirect_uri  # errors go back to the client
        return exc.error


@pytest.mark.parametrize(
    ("params", "signed_in", "consented", "expected"),
    [
        pytest.param({}, False, False, Step.LOGIN, id="no-session-login"),
        pytest.param({"prompt": "none"}, False, False, "login_required", id="none-no-session"),
        pytest.param({}, True, False, Step.CONSENT, id="session-asks-consent"),
        pytest.param({}, True, True, Step.ISSUE, id="session-and-consent-issue"),
        pytest.param({"prompt": "none"}, True, True, Step.ISSUE, id="none-silent-issue"),
        pytest.param({"prompt": "none"}, True, False, "consent_required", id="none-no-consent"),
        pytest.param({"prompt": "login"}, True, True, Step.LOGIN, id="login-forces-login"),
        pytest.param(
            {"prompt": "select_account"}, True, True, Step.LOGIN, id="select-account-logs-in"
        ),
        pytest.param({"prompt": "consent"}, True, True, Step.CONSENT, id="consent-asks-again"),
        pytest.param({"max_age": "0"}, True, True, Step.LOGIN, id="max-age-0-always"),
        pytest.param({"max_age": "3600"}, True, True, Step.ISSUE, id="max-age-recent-enough"),
        pytest.param(
            {"max_age": "0", "prompt": "none"}, True, True, "login_required", id="max-age-none"
        ),
    ],
)
async def test_oidc_core_s3_1_2_1_prompt_and_max_age(
    services: Services,
    params: dict[str, str | None],
    signed_in: bool,
    consented: bool,
    expected: Step | str,
) -> None:
    app = await register_app(services)
    alice = await sign_in(services) if signed_in else None
    if alice is not None and consented:
        await services.store.consents.grant(
            alice.user.id, app.client_id, frozenset({"openid", "read"})
        )

    assert await _step(services, app, alice, **params) == expected


async def test_oidc_core_s3_1_2_1_max_age_counts_from_the_last_authentication(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await register_app(services, first_party=True)
    alice = await sign_in(services, ttl=86400)
    later = alice.session.auth_time + 61
    monkeypatch.setattr(clock, "now", lambda: later)

    assert await _step(services, app, alice, max_age="61") == Step.ISSUE
    assert await _step(services, app, alice, max_age="60") == Step.LOGIN


async def test_oidc_core_s3_1_2_4_consent_covers_only_the_scopes_given(
    services: Services,
) -> None:
    """Consent remembered for some scopes does not cover more; a first-party client is
    trusted by the operator and never asks."""
    app = await register_app(services)
    trusted = await register_app(services, first_party=True)
    alice = await sign_in(services)
    await services.store.consents.grant(alice.user.id, app.client_id, frozenset({"openid"}))

    assert await _step(services, app, alice, scope="openid") == Step.ISSUE
    assert await _step(services, app, alice, scope="openid read") == Step.CONSENT
    assert await _step(services, trusted, alice, scope="openid read") == Step.ISSUE
