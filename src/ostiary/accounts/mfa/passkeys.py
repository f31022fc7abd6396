"""Passkeys (WebAuthn Level 3): registering one, and signing in with one as a second
factor or without a password (a discoverable credential, no username typed).

The ``webauthn`` package checks each ceremony's response (§7.1, §7.2); this module adds
what is Ostiary's: the relying party taken from the issuer, single-use challenges, the
credential's owner, the signature counter (a clone signal, §6.1.1), the account lockout,
the audit trail and the ``amr`` values (RFC 8176) a passkey adds.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ostiary import clock
from ostiary.accounts import throttle
from ostiary.accounts.deps import AccountDeps
from ostiary.domain.mfa import (
    AMR_HARDWARE_KEY,
    AMR_MFA,
    AMR_SOFTWARE_KEY,
    AMR_USER_PRESENCE,
    Factor,
)
from ostiary.domain.users import User
from ostiary.settings import Settings

RP_NAME = "Ostiary"
CHALLENGE_BYTES = 32
# A challenge is good for one ceremony within five minutes (§13.4.3: random, at least
# 16 bytes, used once); the browser's prompt is told the same.
CHALLENGE_TTL = 300
REGISTER = "passkey-register"
# The challenge of a passkey as /account/login's second factor (a one-time token too).
SIGN_IN = "passkey-sign-in"
# §5.8.5: EdDSA, ES256 and RS256 cover every authenticator in use.
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]

CREDENTIAL_ID_MAX = 1023
EXPIRED = "The passkey request has expired. Try again."
NOT_VERIFIED = "The passkey's answer could not be verified. Try again."
UNKNOWN = "This passkey is not registered for this account."
NEEDS_UV = "This sign-in needs a passkey that verifies you (a PIN or biometrics)."
CLONED = "This passkey was refused. Ask an administrator for help."


class PasskeyError(Exception):
    """A refused ceremony; ``message`` is what the person may be shown."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """§5.4.2: the RP ID is the issuer's host; responses must come from its origin."""

    id: str
    origin: str
    name: str = RP_NAME


def relying_party(settings: Settings) -> RelyingParty:
    parts = urlsplit(settings.issuer)
    assert parts.hostname is not None  # the settings refuse an issuer without a host
    # The origin as a browser serialises it (HTML §7.5): host lowercased, default port left out.
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    return RelyingParty(parts.hostname, f"{parts.scheme}://{parts.hostname}{port}")


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def challenge_text(challenge: bytes) -> str:
    """A challenge as kept in an interaction's pending state (base64url)."""
    return bytes_to_base64url(challenge)


def challenge_from(text: object) -> bytes | None:
    """The challenge ``challenge_text`` kept (None: nothing, or not one of ours)."""
    if not isinstance(text, str) or len(text) > 2 * CHALLENGE_BYTES:
        return None
    try:
        challenge = base64url_to_bytes(text)
    except ValueError:  # binascii.Error is one
        return None
    return challenge if len(challenge) == CHALLENGE_BYTES else None


def user_handle(user_id: str) -> bytes:
    """§14.6.1: the user handle is the account's id, never a name or an address."""
    return user_id.encode()


def _descriptors(factors: list[Factor]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=f.credential_id,
            transports=[AuthenticatorTransport(t) for t in f.transports if t in known] or None,
        )
        for f in factors
        if f.kind == "passkey" and f.credential_id
    ]


def registration_options(
    rp: RelyingParty, user: User, factors: list[Factor], challenge: bytes
) -> dict[str, Any]:
    """§5.4 creation options, as the JSON the browser script turns into them."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(user.id),
        user_name=user.username,
        user_display_name=user.username,
        challenge=challenge,
        timeout=CHALLENGE_TTL * 1000,
        attestation=AttestationConveyancePreference.NONE,
        # residentKey=required: the credential can then sign in without a username.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # §5.4.3: an authenticator holding one of these refuses to make a second one.
        exclude_credentials=_descriptors(factors),
        supported_pub_key_algs=ALGORITHMS,
    )
    as_json = options_to_json_dict(options)
    # §10.1.3: credProps tells whether the authenticator made a discoverable credential.
    as_json["extensions"] = {"credProps": True}
    return as_json


async def _challenge_for(services: AccountDeps, user: User, purpose: str) -> bytes:
    """A new challenge kept as a single-use one-time token of ``user`` (by its digest)."""
    challenge = new_challenge()
    await services.store.one_time_tokens.add(
        token_hash=hashlib.sha256(challenge).digest(),
        user_id=user.id,
        purpose=purpose,
        ttl=CHALLENGE_TTL,
    )
    return challenge


async def begin_registration(services: AccountDeps, user: User) -> dict[str, Any]:
    """Creation options for a signed-in user; the challenge is kept as a one-time token."""
    challenge = await _challenge_for(services, user, REGISTER)
    factors = await services.store.factors.for_user(user.id)
    return registration_options(relying_party(services.settings), user, factors, challenge)


async def begin_sign_in(services: AccountDeps, user: User) -> dict[str, Any] | None:
    """Request options for a known user's passkeys, the challenge kept as a one-time token
    (None: the user has no passkey)."""
    mine = await services.store.factors.for_user(user.id)
    factors = [f for f in mine if f.kind == "passkey" and f.confirmed]
    if not factors:
        return None
    challenge = await _challenge_for(services, user, SIGN_IN)
    return authentication_options(
        relying_party(services.settings), challenge, factors, require_uv=False
    )


async def take_sign_in_challenge(
    services: AccountDeps, user: User, credential: Mapping[str, Any]
) -> bytes:
    """The challenge ``credential`` answers, if ``begin_sign_in`` gave it to this user and
    it is unused: used up now (single use, even for two answers at once)."""
    challenge = challenge_of(credential)
    token = await services.store.one_time_tokens.use(hashlib.sha256(challenge).digest(), SIGN_IN)
    if token is None or token.user_id != user.id:
        raise PasskeyError("Ask for the passkey again: that request was used or has expired.")
    return challenge


def challenge_of(credential: Mapping[str, Any]) -> bytes:
    """The challenge a response answers (from its client data; checked by the caller)."""
    try:
        response = credential["response"]
        client_data = base64url_to_bytes(response["clientDataJSON"])
        return parse_client_data_json(client_data).challenge
    except Exception as exc:  # any shape of bad input: one clear refusal
        raise PasskeyError("The passkey's answer is malformed.") from exc


def _discoverable(credential: Mapping[str, Any]) -> bool:
    """§10.1.3 credProps.rk when the browser reports it; else the residentKey=required
    the options asked for, which an authenticator honours or refuses to register."""
    results = credential.get("clientExtensionResults")
    props = results.get("credProps") if isinstance(results, dict) else None
    rk = props.get("rk") if isinstance(props, dict) else None
    return rk if isinstance(rk, bool) else True


async def finish_registration(
    services: AccountDeps, user: User, credential: Mapping[str, Any], name: str
) -> Factor:
    """§7.1: check the response to ``begin_registration``'s options and store the passkey."""
    challenge = challenge_of(credential)
    token_hash = hashlib.sha256(challenge).digest()
    token = await services.store.one_time_tokens.use(token_hash, REGISTER)
    if token is None or token.user_id != user.id:
        raise PasskeyError(EXPIRED)
    rp = relying_party(services.settings)
    try:
        parsed = parse_registration_credential_json(dict(credential))
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as exc:  # the library's refusals and any malformed part alike
        raise PasskeyError(NOT_VERIFIED) from exc
    # §7.1 step 25: a longer credential id than this is no credential to keep.
    if len(verified.credential_id) > CREDENTIAL_ID_MAX:
        raise PasskeyError(NOT_VERIFIED)
    if await services.store.factors.by_credential(verified.credential_id) is not None:
        raise PasskeyError("This passkey is registered already.")
    factor = Factor(
        id=str(uuid.uuid4()),
        user_id=user.id,
        kind="passkey",
        name=name,
        created_at=clock.now(),
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=tuple(t.value for t in parsed.response.transports or ()),
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
        discoverable=_discoverable(credential),
    )
    await services.store.factors.add(factor)
    return factor


def authentication_options(
    rp: RelyingParty, challenge: bytes, factors: list[Factor] | None, *, require_uv: bool
) -> dict[str, Any]:
    """§5.5 request options: ``factors`` (a known user's) become allowCredentials; None
    asks for any discoverable credential of this RP (passwordless), user verified."""
    verification = (
        UserVerificationRequirement.REQUIRED
        if require_uv or factors is None
        else UserVerificationRequirement.PREFERRED
    )
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=CHALLENGE_TTL * 1000,
        allow_credentials=_descriptors(factors or []),
        user_verification=verification,
    )
    return options_to_json_dict(options)


@dataclass(frozen=True, slots=True)
class Asserted:
    """A passkey sign-in that checked out."""

    user_id: str
    factor: Factor
    user_verified: bool
    # RFC 8176 §2: swk for a synced (backup eligible) passkey, hwk for one bound to its
    # device; user when the authenticator verified the person; mfa.
    amr: tuple[str, ...]


class _Failure(Exception):
    def __init__(self, reason: str, message: str, user_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.message, self.user_id = reason, message, user_id


async def _owned(
    services: AccountDeps, parsed: AuthenticationCredential, expected: User | None
) -> Factor:
    """The passkey the response names, if it may sign in here (§7.2 steps 5-6)."""
    too_long = len(parsed.raw_id) > CREDENTIAL_ID_MAX
    factor = None if too_long else await services.store.factors.by_credential(parsed.raw_id)
    if factor is None or factor.kind != "passkey" or factor.public_key is None:
        raise _Failure("unknown_credential", UNKNOWN)
    if expected is not None and factor.user_id != expected.id:
        raise _Failure("wrong_user", UNKNOWN)
    if expected is None and not factor.discoverable:
        raise _Failure("not_discoverable", UNKNOWN, factor.user_id)
    handle = parsed.response.user_handle
    # §7.2 step 6: the user handle, required without a known user, names the owner.
    if (expected is None or handle is not None) and handle != user_handle(factor.user_id):
        raise _Failure("wrong_user_handle", UNKNOWN, factor.user_id)
    return factor


async def _check(
    services: AccountDeps,
    credential: Mapping[str, Any],
    challenge: bytes,
    expected: User | None,
    require_uv: bool,
) -> Asserted:
    try:
        parsed = parse_authentication_credential_json(dict(credential))
    except Exception as exc:
        raise _Failure("malformed", "The passkey's answer is malformed.") from exc
    factor = await _owned(services, parsed, expected)
    assert factor.public_key is not None  # _owned refuses a passkey without one
    rp = relying_party(services.settings)
    try:
        # The counter is checked below, once the signature is known to be good: a
        # forged response must not raise a clone alarm.
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=factor.public_key,
            credential_current_sign_count=0,
        )
    except Exception as exc:
        raise _Failure("bad_assertion", NOT_VERIFIED, factor.user_id) from exc
    # §6.1.3: whether a credential may be backed up never changes.
    if (verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE) != (
        factor.backup_eligible
    ):
        raise _Failure("backup_eligibility_changed", NOT_VERIFIED, factor.user_id)
    stored, new = factor.sign_count, verified.new_sign_count
    # §6.1.1, §7.2 step 22: a counter that does not grow means two copies of the key.
    if (stored or new) and new <= stored:
        await services.audit.record(
            "mfa.passkey_clone_suspected",
            actor=f"user:{factor.user_id}",
            user_id=factor.user_id,
            outcome="failure",
            reason="sign_count",
            details={"factor_id": factor.id, "stored": stored, "presented": new},
        )
        raise _Failure("sign_count", CLONED, factor.user_id)
    if require_uv and not verified.user_verified:
        raise _Failure("user_not_verified", NEEDS_UV, factor.user_id)
    await services.store.factors.use_passkey(
        factor.id, sign_count=new, backup_state=verified.credential_backed_up
    )
    amr = [AMR_SOFTWARE_KEY if factor.backup_eligible else AMR_HARDWARE_KEY]
    if verified.user_verified:
        amr.append(AMR_USER_PRESENCE)
    amr.append(AMR_MFA)
    return Asserted(factor.user_id, factor, verified.user_verified, tuple(amr))


async def finish_authentication(
    services: AccountDeps,
    credential: Mapping[str, Any],
    *,
    challenge: bytes,
    expected: User | None,
    require_uv: bool,
    ip: str | None,
    client_id: str | None = None,
) -> Asserted:
    """§7.2: check an assertion answering ``challenge``. ``expected``: the user who owes a
    second factor (None: passwordless, so the credential must be discoverable and the
    person verified). Failures are audited; for an expected user they count toward the
    account lockout like a wrong password. Passwordless failures do not: no secret can be
    guessed there, and a lock would let anyone deny the owner their passkey."""
    require_uv = require_uv or expected is None
    keys = [throttle.account_key(expected.username)] if expected is not None else []
    checked = await services.throttle.check(keys) if keys else None
    audit: dict[str, Any] = {"client_id": client_id, "ip": ip}
    if checked is not None and checked.wait:
        assert expected is not None
        await _audit_failure(services, expected.id, "locked", audit)
        raise PasskeyError(throttle.locked_message(checked.wait), 429)
    try:
        asserted = await _check(services, credential, challenge, expected, require_uv)
    except _Failure as failure:
        user_id = expected.id if expected is not None else failure.user_id
        if keys:
            await services.throttle.failed(keys)
        await _audit_failure(services, user_id, failure.reason, audit)
        raise PasskeyError(failure.message) from failure
    if checked is not None:
        await services.throttle.succeeded(keys, checked)
    return asserted


async def _audit_failure(
    services: AccountDeps, user_id: str | None, reason: str, fields: dict[str, Any]
) -> None:
    await services.audit.record(
        "mfa.failed",
        actor=f"user:{user_id}" if user_id else "anonymous",
        user_id=user_id,
        outcome="failure",
        reason=reason,
        details={"method": "passkey"},
        **fields,
    )
