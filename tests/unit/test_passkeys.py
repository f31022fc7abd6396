"""The passkey ceremonies (WebAuthn Level 3 §7.1 registration, §7.2 authentication) as
``accounts.mfa.passkeys`` runs them, over the run's databases, with responses made by a
software authenticator (tests/e2e/webauthn_helpers.py): options, the relying party, the
single-use challenge, the owner checks, user verification, the signature counter, the
lockout and the audit trail. The browser's side is tests/e2e/test_passkeys_browser.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.accounts import throttle
from ostiary.accounts.mfa import passkeys, totp
from ostiary.accounts.mfa.passkeys import PasskeyError
from ostiary.domain.mfa import Factor
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.settings import load_settings
from tests.conftest import open_services, unique
from tests.e2e.webauthn_helpers import SoftAuthenticator, b64url, unb64url

pytestmark = pytest.mark.anyio

ISSUER = "https://id.example.test"
ORIGIN = ISSUER
RP_ID = "id.example.test"
THRESHOLD = 5
IP = "203.0.113.9"


@pytest.fixture(scope="module")
async def services(database_url: str) -> AsyncIterator[Services]:
    async with open_services(
        database_url, issuer=ISSUER, lockout={"account_threshold": THRESHOLD}
    ) as services:
        yield services


async def new_user(services: Services) -> User:
    return await services.store.users.add(username=unique("pk"), email=None, password_hash=None)


async def registered(
    services: Services, user: User, authenticator: SoftAuthenticator, **create: Any
) -> Factor:
    options = await passkeys.begin_registration(services, user)
    response = authenticator.create(options, ORIGIN, **create)
    return await passkeys.finish_registration(services, user, response, "My key")


def request_options(factors: list[Factor] | None, *, require_uv: bool = False) -> dict[str, Any]:
    rp = passkeys.RelyingParty(RP_ID, ORIGIN)
    return passkeys.authentication_options(
        rp, passkeys.new_challenge(), factors, require_uv=require_uv
    )


async def check(
    services: Services,
    response: dict[str, Any],
    options: dict[str, Any],
    expected: User | None,
    *,
    require_uv: bool = False,
) -> passkeys.Asserted:
    """The server's check of ``response`` to ``options``."""
    return await passkeys.finish_authentication(
        services,
        response,
        challenge=unb64url(options["challenge"]),
        expected=expected,
        require_uv=require_uv,
        ip=IP,
    )


async def assertion(
    services: Services,
    authenticator: SoftAuthenticator,
    expected: User | None,
    *,
    require_uv: bool = False,
    **get: Any,
) -> passkeys.Asserted:
    """Request options for ``expected`` (None: passwordless), the authenticator's answer,
    and the server's check of it."""
    factors = await services.store.factors.for_user(expected.id) if expected else None
    options = request_options(factors, require_uv=require_uv)
    response = authenticator.get(options, ORIGIN, **get)
    return await check(services, response, options, expected, require_uv=require_uv)


async def events(services: Services, user: User, type: str) -> list[Any]:
    return await services.store.audit.query(user_id=user.id, type=type)


# -- options and the relying party ------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "rp_id", "origin"),
    [
        ("https://id.example.test", "id.example.test", "https://id.example.test"),
        ("https://ID.Example.test:8443/tenant", "id.example.test", "https://id.example.test:8443"),
        ("https://id.example.test:443", "id.example.test", "https://id.example.test"),
        ("http://localhost:8080", "localhost", "http://localhost:8080"),
    ],
)
async def test_webauthn_l3_s5_1_2_rp_id_is_the_issuer_host_and_origin_its_origin(
    issuer: str, rp_id: str, origin: str
) -> None:
    rp = passkeys.relying_party(load_settings(issuer=issuer))
    assert (rp.id, rp.origin, rp.name) == (rp_id, origin, "Ostiary")


async def test_webauthn_l3_s5_4_creation_options_ask_for_a_discoverable_credential(
    services: Services,
) -> None:
    user = await new_user(services)
    first = await registered(services, user, SoftAuthenticator())
    await totp.begin(services.store.factors, services.settings, user.id, "app")
    options = await passkeys.begin_registration(services, user)

    assert options["rp"] == {"id": RP_ID, "name": "Ostiary"}
    # §14.6.1: the user handle is the account id, no personal data.
    assert options["user"] == {
        "id": b64url(user.id.encode()),
        "name": user.username,
        "displayName": user.username,
    }
    assert len(unb64url(options["challenge"])) == 32
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "preferred",
    }
    assert options["attestation"] == "none"
    assert options["extensions"] == {"credProps": True}
    # §5.4.3: the passkeys the user has already (the TOTP factor is not one).
    assert first.credential_id is not None
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(first.credential_id)]
    assert options["excludeCredentials"][0]["transports"] == ["internal", "hybrid"]


async def test_webauthn_l3_s5_5_request_options_for_a_user_list_their_passkeys(
    services: Services,
) -> None:
    user = await new_user(services)
    factor = await registered(services, user, SoftAuthenticator())
    options = request_options([factor])
    assert options["rpId"] == RP_ID
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(factor.credential_id or b"")]
    assert options["userVerification"] == "preferred"
    assert request_options([factor], require_uv=True)["userVerification"] == "required"


def test_webauthn_l3_s5_5_passwordless_request_options_allow_any_and_require_uv() -> None:
    options = request_options(None)
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"


# -- registration (§7.1) ----------------------------------------------------------------------


@pytest.mark.parametrize(("rk", "discoverable"), [(True, True), (None, True), (False, False)])
async def test_webauthn_l3_s7_1_registration_stores_the_credential(
    services: Services, rk: bool | None, discoverable: bool
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator(backup_eligible=True, backed_up=True)
    factor = await registered(services, user, authenticator, rk=rk)

    stored = await services.store.factors.by_credential(authenticator.credentials[0].credential_id)
    assert stored == factor
    assert (stored.kind, stored.name, stored.user_id) == ("passkey", "My key", user.id)
    assert stored.public_key and stored.sign_count == 0
    assert stored.transports == ("internal", "hybrid")
    assert (stored.backup_eligible, stored.backup_state) == (True, True)
    # §10.1.3 credProps, else the residentKey=required the options asked for.
    assert stored.discoverable is discoverable


async def test_webauthn_l3_s13_4_3_a_registration_challenge_is_used_once(
    services: Services,
) -> None:
    user = await new_user(services)
    options = await passkeys.begin_registration(services, user)
    response = SoftAuthenticator().create(options, ORIGIN)
    await passkeys.finish_registration(services, user, response, "one")
    with pytest.raises(PasskeyError, match="expired"):
        await passkeys.finish_registration(services, user, response, "again")


async def test_webauthn_l3_s7_1_a_challenge_made_for_another_user_is_refused(
    services: Services,
) -> None:
    alice, mallory = await new_user(services), await new_user(services)
    options = await passkeys.begin_registration(services, alice)
    response = SoftAuthenticator().create(options, ORIGIN)
    with pytest.raises(PasskeyError, match="expired"):
        await passkeys.finish_registration(services, mallory, response, "stolen")
    assert await services.store.factors.for_user(mallory.id) == []


@pytest.mark.parametrize(
    "change",
    [
        {"origin": "https://evil.example.test"},  # §7.1 step 9
        {"rp_id": "evil.example.test"},  # §7.1 step 13
    ],
)
async def test_webauthn_l3_s7_1_wrong_origin_or_rp_id_is_refused(
    services: Services, change: dict[str, str]
) -> None:
    user = await new_user(services)
    options = await passkeys.begin_registration(services, user)
    response = SoftAuthenticator().create(
        options, change.get("origin", ORIGIN), rp_id=change.get("rp_id")
    )
    with pytest.raises(PasskeyError, match="could not be verified"):
        await passkeys.finish_registration(services, user, response, "x")
    assert await services.store.factors.for_user(user.id) == []


async def test_webauthn_l3_s7_1_step_25_a_credential_id_over_1023_bytes_is_refused(
    services: Services,
) -> None:
    user = await new_user(services)
    with pytest.raises(PasskeyError, match="could not be verified"):
        await registered(services, user, SoftAuthenticator(credential_id_length=1024))
    assert await services.store.factors.for_user(user.id) == []
    assert (await registered(services, user, SoftAuthenticator(credential_id_length=1023))).id


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"response": "text"},
        {"response": {"clientDataJSON": "%%%"}},
        {"response": {"clientDataJSON": b64url(b"not json")}},
        {"response": {"clientDataJSON": b64url(b'{"type": "webauthn.create"}')}},
    ],
)
async def test_a_malformed_registration_response_is_a_clear_refusal(
    services: Services, response: dict[str, Any]
) -> None:
    user = await new_user(services)
    with pytest.raises(PasskeyError, match="malformed"):
        await passkeys.finish_registration(services, user, response, "x")


async def test_a_well_formed_client_data_with_a_broken_attestation_is_refused(
    services: Services,
) -> None:
    user = await new_user(services)
    options = await passkeys.begin_registration(services, user)
    response = SoftAuthenticator().create(options, ORIGIN)
    response["response"]["attestationObject"] = b64url(b"\xa0garbage")
    with pytest.raises(PasskeyError, match="could not be verified"):
        await passkeys.finish_registration(services, user, response, "x")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)


@given(JSON)
def test_any_json_is_a_challenge_or_a_clear_refusal(value: Any) -> None:
    credential = {"response": {"clientDataJSON": value}} if not isinstance(value, dict) else value
    try:
        passkeys.challenge_of(credential)
    except PasskeyError as exc:
        assert exc.status == 400


# -- authentication (§7.2) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("synced", "uv", "amr"),
    [
        (False, True, ("hwk", "user", "mfa")),
        (True, True, ("swk", "user", "mfa")),
        (False, False, ("hwk", "mfa")),
    ],
)
async def test_rfc8176_s2_a_passkey_second_factor_adds_its_amr(
    services: Services, synced: bool, uv: bool, amr: tuple[str, ...]
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator(backup_eligible=synced, user_verifying=uv)
    factor = await registered(services, user, authenticator)
    asserted = await assertion(services, authenticator, user)
    assert (asserted.user_id, asserted.factor.id, asserted.amr) == (user.id, factor.id, amr)
    after = await services.store.factors.get(factor.id)
    assert after is not None and after.sign_count == 1 and after.last_used_at is not None


async def test_webauthn_l3_s7_2_passwordless_finds_the_owner_by_user_handle(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    await registered(services, user, authenticator)
    asserted = await assertion(services, authenticator, None)
    assert asserted.user_id == user.id
    assert asserted.amr == ("hwk", "user", "mfa") and asserted.user_verified


async def test_webauthn_l3_s7_2_step_17_passwordless_requires_user_verification(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator(user_verifying=False)
    factor = await registered(services, user, authenticator)
    with pytest.raises(PasskeyError, match="verifies you"):
        await assertion(services, authenticator, None)
    # A level of phr asks the same of a second factor.
    with pytest.raises(PasskeyError, match="verifies you"):
        await assertion(services, authenticator, user, require_uv=True)
    failed = await events(services, user, "mfa.failed")
    assert [e.reason for e in failed] == ["user_not_verified"] * 2
    assert all(e.details["method"] == "passkey" for e in failed)
    after = await services.store.factors.get(factor.id)
    assert after is not None and after.sign_count == 0


@pytest.mark.parametrize(
    ("create", "get"),
    [
        ({"rk": False}, {}),  # not discoverable: it cannot name its user
        ({}, {"user_handle": None}),  # §7.2 step 6: no user handle
        ({}, {"user_handle": b"someone-else"}),  # a user handle of another account
    ],
)
async def test_webauthn_l3_s7_2_step_6_passwordless_needs_the_owner_handle(
    services: Services, create: dict[str, Any], get: dict[str, Any]
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    await registered(services, user, authenticator, **create)
    with pytest.raises(PasskeyError, match="not registered"):
        await assertion(services, authenticator, None, **get)
    assert len(await events(services, user, "mfa.failed")) == 1


async def test_webauthn_l3_s7_2_step_6_another_users_passkey_is_refused_and_counted(
    services: Services,
) -> None:
    alice, bob = await new_user(services), await new_user(services)
    bobs = SoftAuthenticator()
    await registered(services, bob, bobs)
    await registered(services, alice, SoftAuthenticator())
    options = request_options(await services.store.factors.for_user(alice.id))
    response = bobs.get(options, ORIGIN, credential=bobs.credentials[0])
    with pytest.raises(PasskeyError, match="not registered"):
        await check(services, response, options, alice)
    failed = await events(services, alice, "mfa.failed")
    assert [(e.reason, e.outcome, e.ip) for e in failed] == [("wrong_user", "failure", IP)]
    key = throttle.account_key(alice.username)
    assert key in (await services.store.throttles.state([key])).recorded


async def test_webauthn_l3_s6_1_1_a_counter_that_does_not_grow_is_a_clone_signal(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    factor = await registered(services, user, authenticator)
    await assertion(services, authenticator, user, sign_count=5)
    for replayed in (5, 4, 0):
        with pytest.raises(PasskeyError, match="refused"):
            await assertion(services, authenticator, user, sign_count=replayed)
    clones = await events(services, user, "mfa.passkey_clone_suspected")
    assert [(e.outcome, e.details["presented"]) for e in clones] == [
        ("failure", 5),
        ("failure", 4),
        ("failure", 0),
    ]
    assert all(e.details["stored"] == 5 and e.details["factor_id"] == factor.id for e in clones)
    after = await services.store.factors.get(factor.id)
    assert after is not None and after.sign_count == 5
    assert (await assertion(services, authenticator, user, sign_count=6)).user_id == user.id


async def test_webauthn_l3_s6_1_1_a_counter_that_stays_zero_is_accepted(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator(counter_step=0, backup_eligible=True)
    await registered(services, user, authenticator)
    for _ in range(2):
        assert (await assertion(services, authenticator, user)).amr[0] == "swk"
    assert await events(services, user, "mfa.passkey_clone_suspected") == []


async def test_a_forged_signature_never_raises_the_clone_alarm(services: Services) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    factor = await registered(services, user, authenticator)
    await assertion(services, authenticator, user, sign_count=3)
    options = request_options([factor])
    response = authenticator.get(options, ORIGIN, sign_count=1)
    response["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    with pytest.raises(PasskeyError, match="could not be verified"):
        await check(services, response, options, user)
    assert await events(services, user, "mfa.passkey_clone_suspected") == []


async def test_webauthn_l3_s7_2_step_12_an_answer_to_another_challenge_is_refused(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    factor = await registered(services, user, authenticator)
    options = request_options([factor])
    response = authenticator.get(options, ORIGIN, challenge=b64url(b"a" * 32))
    with pytest.raises(PasskeyError, match="could not be verified"):
        await check(services, response, options, user)


async def test_webauthn_l3_s6_1_3_backup_eligibility_never_changes(
    services: Services,
) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator(backup_eligible=False)
    await registered(services, user, authenticator)
    authenticator.backup_eligible = True
    with pytest.raises(PasskeyError, match="could not be verified"):
        await assertion(services, authenticator, user)
    assert [e.reason for e in await events(services, user, "mfa.failed")] == [
        "backup_eligibility_changed"
    ]


async def test_failed_passkeys_count_toward_the_account_lockout(services: Services) -> None:
    user = await new_user(services)
    authenticator = SoftAuthenticator()
    await registered(services, user, authenticator)
    for _ in range(THRESHOLD):
        with pytest.raises(PasskeyError):
            await assertion(services, authenticator, user, challenge=b64url(b"b" * 32))
    # Locked: even the right passkey is not looked at until the lock ends.
    with pytest.raises(PasskeyError, match="Too many failed attempts") as refused:
        await assertion(services, authenticator, user)
    assert refused.value.status == 429
    reasons = [e.reason for e in await events(services, user, "mfa.failed")]
    assert reasons == ["bad_assertion"] * THRESHOLD + ["locked"]


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"userHandle": 5}},
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": "AA",
                "authenticatorData": "AA",
                "signature": "AA",
                "userHandle": "%%",
            },
        },
    ],
)
async def test_a_malformed_assertion_is_a_clear_refusal(
    services: Services, response: dict[str, Any]
) -> None:
    user = await new_user(services)
    with pytest.raises(PasskeyError) as refused:
        await passkeys.finish_authentication(
            services, response, challenge=b"c" * 32, expected=user, require_uv=False, ip=IP
        )
    assert refused.value.status == 400
