"""Signing keys, JWT access tokens and the single-use repositories, on SQLite and PostgreSQL.

The key-ring tests need to know every key in the table, so they run against migrated
databases of the same backend owned by this module (``keyring_url`` is emptied by each test;
``jwt_keys`` holds one key ring for all the token tests). The repository tests share the
session database with everything else and only look at rows they created.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import delete

from ostiary import clock
from ostiary.crypto.sealing import Sealer, UnsealError
from ostiary.crypto.tokens import AUTHORIZATION_CODE_PREFIX, REFRESH_TOKEN_PREFIX, digest
from ostiary.crypto.tokens import new_secret as new_token
from ostiary.domain.codes import CodeState, Refused
from ostiary.domain.tokens import NewRefreshToken
from ostiary.keys.manager import MAX_TOKEN_LIFETIME, KeyManager
from ostiary.services import Services
from ostiary.storage.tables import signing_keys
from ostiary.tokens import jwt_access, signed
from ostiary.tokens.jwt_access import InvalidAccessToken
from tests.conftest import SECRET_KEY, open_services
from tests.databases import backend_of, fresh_database

ISSUER = "http://127.0.0.1:0"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# -- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyring_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database whose signing_keys table belongs to this module's key-ring tests alone."""
    directory = tmp_path_factory.mktemp("keyring")
    with fresh_database(backend_of(database_url), directory) as url:
        yield url


@pytest.fixture(scope="module")
def jwt_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend_of(database_url), tmp_path_factory.mktemp("jwt")) as url:
        yield url


@pytest.fixture(scope="module")
async def jwt_keys(jwt_url: str) -> AsyncIterator[KeyManager]:
    """One ES256 and one RS256 key, loaded once, for all the JWT access-token tests."""
    async with open_services(jwt_url) as services:
        assert len(await services.keys.ensure({"ES256", "RS256"})) == 2
        yield services.keys


@asynccontextmanager
async def empty_keyring(url: str, publish_ahead: int = 0) -> AsyncIterator[Services]:
    """Services over the module's own database, with no signing keys at all."""
    async with open_services(url, keys={"publish_ahead": publish_ahead, "cache_ttl": 1}) as s:
        async with s.engine.begin() as conn:
            await conn.execute(delete(signing_keys))
        yield s


class Clock:
    """A settable ``ostiary.clock.now``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = clock.now()
        monkeypatch.setattr("ostiary.clock.now", lambda: self.now)


# -- key ring -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rfc7517_ensure_creates_es256_and_rs256_once(keyring_url: str) -> None:
    """RFC 7517 §4.5 (kid): one key per algorithm on first start, never a second one."""
    async with empty_keyring(keyring_url) as services:
        created = await services.keys.ensure({"ES256", "RS256"})
        assert len(created) == 2
        rows = {row.kid: row for row in await services.store.keys.all()}
        assert set(rows) == set(created)
        assert sorted(row.alg for row in rows.values()) == ["ES256", "RS256"]
        assert all(row.retired_at is None and row.expires_at is None for row in rows.values())

        assert await services.keys.ensure({"ES256", "RS256"}) == []
        # Another node starting against the same database creates nothing either.
        other = KeyManager(
            services.store.keys,
            Sealer(SECRET_KEY.encode(), "signing-keys"),
            publish_ahead=0,
            cache_ttl=1,
        )
        assert await other.ensure({"ES256", "RS256"}) == []
        assert {k.kid for k in await services.store.keys.all()} == set(created)
        for alg in ("ES256", "RS256"):
            assert services.keys.signing_key(alg).kid in created
            assert other.signing_key(alg).kid == services.keys.signing_key(alg).kid


@pytest.mark.anyio
async def test_rfc7517_s9_2_private_key_sealed_at_rest(keyring_url: str) -> None:
    """RFC 7517 §9.2: the stored private key is encrypted; its 'd' never appears in clear."""
    async with empty_keyring(keyring_url) as services:
        await services.keys.ensure({"ES256", "RS256"})
        rows = await services.store.keys.all()
        assert len(rows) == 2
        right = Sealer(SECRET_KEY.encode(), "signing-keys")
        for row in rows:
            private = orjson.loads(right.unseal(row.private_sealed))
            secrets_in_clear = [private[m] for m in PRIVATE_MEMBERS if m in private]
            assert private["d"] in secrets_in_clear
            for value in secrets_in_clear:
                raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
                assert value.encode() not in row.private_sealed
                assert raw not in row.private_sealed
            assert b'"d"' not in row.private_sealed
            assert not PRIVATE_MEMBERS & set(row.public_jwk)
            with pytest.raises(UnsealError):
                Sealer(b"another-secret-key-" + b"y" * 32, "signing-keys").unseal(
                    row.private_sealed
                )
            with pytest.raises(UnsealError):
                Sealer(SECRET_KEY.encode(), "something-else").unseal(row.private_sealed)


@pytest.mark.anyio
async def test_rfc7517_s5_jwks_has_only_public_members(keyring_url: str) -> None:
    """RFC 7517 §5, RFC 7518 §6.2.1/§6.3.1: the JWKS publishes public parameters only."""
    async with empty_keyring(keyring_url) as services:
        created = await services.keys.ensure({"ES256", "RS256"})
        jwks = services.keys.jwks()
        assert set(jwks) == {"keys"}
        by_kid = {jwk["kid"]: jwk for jwk in jwks["keys"]}
        assert set(by_kid) == set(created)
        for jwk in by_kid.values():
            assert not PRIVATE_MEMBERS & set(jwk)
            assert jwk["use"] == "sig"
            if jwk["alg"] == "ES256":
                assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
                assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
            else:
                assert jwk["alg"] == "RS256"
                assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
        # The serialised form served at the JWKS endpoint holds no private member either.
        assert orjson.loads(services.keys.jwks_json) == jwks
        sealer = Sealer(SECRET_KEY.encode(), "signing-keys")
        for row in await services.store.keys.all():
            d = orjson.loads(sealer.unseal(row.private_sealed))["d"]
            assert d.encode() not in services.keys.jwks_json


@pytest.mark.anyio
async def test_rfc7517_rotation_publishes_ahead_then_retires(
    keyring_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7517 §5 / RFC 8414 §2 (jwks_uri): new key published before it signs; the old one
    stays published until every token it signed has expired."""
    ahead = 300
    now = Clock(monkeypatch)
    start = now.now
    async with empty_keyring(keyring_url, publish_ahead=ahead) as services:
        keys = services.keys
        (old,) = await keys.ensure({"ES256"})
        before = _sign(keys, {"sub": "before-rotation"})

        new = await keys.rotate("ES256")
        assert new != old
        # Published immediately, so verifiers caching the JWKS learn it first ...
        assert {old, new} <= _jwks_kids(keys)
        # ... but the old key keeps signing until the new one activates.
        for offset in (0, 1, ahead - 1):
            now.now = start + offset
            assert keys.signing_key("ES256").kid == old
        now.now = start + ahead
        assert keys.signing_key("ES256").kid == new
        assert (await jwt_access.decode(keys, _sign(keys, {}), issuer=ISSUER))["iss"] == ISSUER
        assert await keys.ensure({"ES256"}) == []

        rows = {row.kid: row for row in await services.store.keys.all()}
        assert rows[old].retired_at == start + ahead
        assert rows[old].expires_at == start + ahead + MAX_TOKEN_LIFETIME
        assert rows[new].activates_at == start + ahead
        assert rows[new].retired_at is None

        # Tokens the old key signed keep verifying while it is published.
        now.now = start + ahead + MAX_TOKEN_LIFETIME - 1
        await keys.load()
        assert {old, new} <= _jwks_kids(keys)
        claims = await jwt_access.decode(keys, before, issuer=ISSUER, allow_expired=True)
        assert claims["sub"] == "before-rotation"

        # At expires_at the old key leaves the JWKS and its tokens no longer verify.
        now.now = start + ahead + MAX_TOKEN_LIFETIME
        await keys.load()
        assert _jwks_kids(keys) == {new}
        assert keys.by_kid(old) is None
        with pytest.raises(InvalidAccessToken, match="unknown key"):
            await jwt_access.decode(keys, before, issuer=ISSUER, allow_expired=True)


@pytest.mark.anyio
async def test_rfc7517_rotation_without_publish_ahead_switches_at_once(
    keyring_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7517 §5: with publish_ahead=0 the new key signs now; other algorithms untouched."""
    now = Clock(monkeypatch)
    async with empty_keyring(keyring_url, publish_ahead=0) as services:
        keys = services.keys
        await keys.ensure({"ES256", "RS256"})
        rs_before = keys.signing_key("RS256").kid
        now.now += 60
        new = await keys.rotate("ES256")
        assert keys.signing_key("ES256").kid == new
        assert keys.signing_key("RS256").kid == rs_before
        rows = {row.kid: row for row in await services.store.keys.all()}
        assert rows[rs_before].retired_at is None
        assert [r.kid for r in rows.values() if r.alg == "ES256" and r.retired_at is None] == [new]


@pytest.mark.anyio
async def test_rfc7517_retired_key_stops_signing_even_in_its_activation_second(
    keyring_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """RFC 7517 §5: once a key is retired (retired_at <= now) its successor signs, always."""
    Clock(monkeypatch)
    async with empty_keyring(keyring_url, publish_ahead=0) as services:
        keys = services.keys
        (old,) = await keys.ensure({"ES256"})
        new = await keys.rotate("ES256")
        rows = {row.kid: row for row in await services.store.keys.all()}
        assert rows[old].retired_at == rows[new].activates_at == clock.now()
        assert keys.signing_key("ES256").kid == new


@pytest.mark.anyio
async def test_rfc7517_s4_5_unknown_kid_reloads_at_most_once_a_second(
    keyring_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7517 §4.5 (kid): a kid rotated in by another node is found after a reload, but an
    unknown kid cannot make a node hit the database more than once a second."""
    now = Clock(monkeypatch)
    async with empty_keyring(keyring_url) as services:
        node_a = services.keys
        await node_a.ensure({"ES256"})
        now.now += 10
        await node_a.load()
        node_b = KeyManager(
            services.store.keys,
            Sealer(SECRET_KEY.encode(), "signing-keys"),
            publish_ahead=0,
            cache_ttl=1,
        )
        new = await node_b.rotate("ES256")
        token = _sign(node_b, {})
        assert node_a.by_kid(new) is None
        # Same second as node A's last load: no reload, so the kid is unknown for now.
        with pytest.raises(InvalidAccessToken, match="unknown key"):
            await jwt_access.decode(node_a, token, issuer=ISSUER)
        now.now += 1
        assert (await jwt_access.decode(node_a, token, issuer=ISSUER))["iss"] == ISSUER
        assert node_a.by_kid(new) is not None


def _jwks_kids(keys: KeyManager) -> set[str]:
    return {jwk["kid"] for jwk in keys.jwks()["keys"]}


# -- JWT access tokens ----------------------------------------------------------------------


def _claims(**overrides: Any) -> dict[str, Any]:
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": ISSUER,
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": "client-1",
        "scope": "read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(keys: KeyManager, overrides: dict[str, Any], alg: str = "ES256") -> str:
    return jwt_access.encode(keys, alg, _claims(**overrides))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _with_key(keys: KeyManager, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
    """Sign with our own current key but an arbitrary header."""
    loaded = keys.signing_key(alg)
    return jwt.encode(
        {"kid": loaded.kid, **header},
        claims,
        loaded.key,
        algorithms=[header["alg"]],
        default_type=None,
    )


Forge = Callable[[KeyManager], str]


def _typ(typ: str | None) -> Forge:
    def forge(keys: KeyManager) -> str:
        header: dict[str, Any] = {"alg": "ES256"} | ({"typ": typ} if typ else {})
        return _with_key(keys, header, _claims(), "ES256")

    return forge


def _alg_none(keys: KeyManager) -> str:
    kid = keys.signing_key("ES256").kid
    return _segments({"alg": "none", "typ": "at+jwt", "kid": kid}, _claims()) + "."


def _hs256_with_public_key(keys: KeyManager) -> str:
    loaded = keys.signing_key("ES256")
    signing_input = _segments({"alg": "HS256", "typ": "at+jwt", "kid": loaded.kid}, _claims())
    public_pem = loaded.key.as_pem(private=False)
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def _hs256_with_rsa_public_jwk(keys: KeyManager) -> str:
    loaded = keys.signing_key("RS256")
    signing_input = _segments({"alg": "HS256", "typ": "at+jwt", "kid": loaded.kid}, _claims())
    secret = json.dumps(loaded.public_jwk).encode()
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), "sha256").digest())


def _kid(kid: object) -> Forge:
    """A token whose protected header carries ``kid`` (or none); the header is swapped in
    after signing, since a kid check has to come before any signature check."""

    def forge(keys: KeyManager) -> str:
        header = {"alg": "ES256", "typ": "at+jwt"} | ({} if kid is None else {"kid": kid})
        rest = _sign(keys, {}).split(".", 1)[1]
        return _b64(json.dumps(header).encode()) + "." + rest

    return forge


def _ps256_header_on_rs256_key(keys: KeyManager) -> str:
    return _with_key(keys, {"alg": "PS256", "typ": "at+jwt"}, _claims(), "RS256")


def _es256_header_with_rs256_kid(keys: KeyManager) -> str:
    rs_kid = keys.signing_key("RS256").kid
    es = keys.signing_key("ES256").key
    header = {"alg": "ES256", "typ": "at+jwt", "kid": rs_kid}
    return jwt.encode(header, _claims(), es, default_type=None)


def _attacker_key_with_our_kid(keys: KeyManager) -> str:
    attacker = ECKey.generate_key("P-256", private=True)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": keys.signing_key("ES256").kid}
    return jwt.encode(header, _claims(), attacker, default_type=None)


def _embedded_jwk(keys: KeyManager) -> str:
    attacker = ECKey.generate_key("P-256", private=True)
    header = {
        "alg": "ES256",
        "typ": "at+jwt",
        "kid": keys.signing_key("ES256").kid,
        "jwk": attacker.as_dict(private=False),
    }
    return jwt.encode(header, _claims(), attacker, default_type=None)


def _tampered_payload(keys: KeyManager) -> str:
    header, _, signature = _sign(keys, {}).split(".")
    payload = _b64(json.dumps(_claims(sub="admin")).encode())
    return f"{header}.{payload}.{signature}"


def _tampered_signature(keys: KeyManager) -> str:
    token = _sign(keys, {})
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{_b64(bytes(raw))}"


def _swapped_header(keys: KeyManager) -> str:
    token = _sign(keys, {}, alg="ES256")
    other = _sign(keys, {}, alg="RS256")
    return other.split(".")[0] + "." + token.split(".", 1)[1]


def _claim(**overrides: Any) -> Forge:
    def forge(keys: KeyManager) -> str:
        return _sign(keys, overrides)

    return forge


def _oversized(keys: KeyManager) -> str:
    return _sign(keys, {"padding": "x" * jwt_access.MAX_TOKEN_LENGTH})


def _text(value: str) -> Forge:
    return lambda keys: value


REJECTED: list[tuple[str, Forge, str]] = [
    ("typ-JWT", _typ("JWT"), "wrong typ"),
    ("typ-missing", _typ(None), "wrong typ"),
    ("typ-jwt-lowercase", _typ("jwt"), "wrong typ"),
    ("typ-id-token", _typ("id_token+jwt"), "wrong typ"),
    ("alg-none", _alg_none, "unknown key or algorithm|malformed"),
    ("hs256-ec-public-pem", _hs256_with_public_key, "unknown key or algorithm"),
    ("hs256-rsa-public-jwk", _hs256_with_rsa_public_jwk, "unknown key or algorithm"),
    ("ps256-on-rs256-key", _ps256_header_on_rs256_key, "unknown key or algorithm"),
    ("es256-with-rs256-kid", _es256_header_with_rs256_kid, "unknown key or algorithm"),
    ("kid-unknown", _kid("no-such-kid"), "unknown key or algorithm"),
    ("kid-missing", _kid(None), "unknown key or algorithm"),
    ("kid-not-string", _kid(42), "unknown key or algorithm"),
    ("kid-object", _kid({"kid": "x"}), "unknown key or algorithm"),
    ("kid-too-long", _kid("k" * 129), "unknown key or algorithm"),
    ("attacker-key-our-kid", _attacker_key_with_our_kid, "bad signature"),
    ("embedded-jwk", _embedded_jwk, "bad signature"),
    ("tampered-payload", _tampered_payload, "bad signature"),
    ("tampered-signature", _tampered_signature, "bad signature"),
    ("swapped-header", _swapped_header, "bad signature"),
    ("wrong-issuer", _claim(iss="https://evil.example.com"), "wrong issuer"),
    ("issuer-trailing-slash", _claim(iss=ISSUER + "/"), "wrong issuer"),
    ("issuer-missing", _claim(iss=None), "wrong issuer"),
    ("expired", _claim(exp=0), "expired"),
    ("exp-missing", _claim(exp=None), "expired"),
    ("exp-string", _claim(exp="9999999999"), "expired"),
    ("jti-missing", _claim(jti=None), "no jti"),
    ("jti-number", _claim(jti=7), "no jti"),
    ("oversized", _oversized, "not a JWT"),
    ("empty", _text(""), "not a JWT"),
    ("two-segments", _text("a.b"), "not a JWT"),
    ("four-segments", _text("a.b.c.d"), "not a JWT"),
    ("dots-only", _text(".."), "malformed"),
    ("garbage", _text("%%%.###.$$$"), "malformed"),
    ("opaque-refresh-token", _text(new_token(REFRESH_TOKEN_PREFIX)), "not a JWT"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("alg", ["ES256", "RS256"])
async def test_rfc9068_s4_valid_access_token_decodes(jwt_keys: KeyManager, alg: str) -> None:
    """RFC 9068 §4: a token we signed, with typ at+jwt, our issuer and a future exp, verifies."""
    claims = _claims()
    token = jwt_access.encode(jwt_keys, alg, claims)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": alg, "typ": "at+jwt", "kid": jwt_keys.signing_key(alg).kid}
    assert await jwt_access.decode(jwt_keys, token, issuer=ISSUER) == claims


@pytest.mark.anyio
async def test_rfc9068_s4_application_at_jwt_typ_accepted(jwt_keys: KeyManager) -> None:
    """RFC 9068 §4: typ "application/at+jwt" is the long form and is accepted too."""
    token = _typ("application/at+jwt")(jwt_keys)
    assert (await jwt_access.decode(jwt_keys, token, issuer=ISSUER))["iss"] == ISSUER


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("forge", "reason"), [(f, r) for _, f, r in REJECTED], ids=[i for i, _, _ in REJECTED]
)
async def test_rfc9068_s4_rfc8725_forged_or_invalid_tokens_rejected(
    jwt_keys: KeyManager, forge: Forge, reason: str
) -> None:
    """RFC 9068 §4 (typ, iss, exp, signature), RFC 8725 §3.1/§3.11 (alg allow-list, typing)."""
    token = forge(jwt_keys)
    with pytest.raises(InvalidAccessToken, match=reason):
        await jwt_access.decode(jwt_keys, token, issuer=ISSUER)


@pytest.mark.anyio
async def test_rfc9068_s4_expiry_boundary_and_allow_expired(
    jwt_keys: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7519 §4.1.4: exp is the time on or after which the token MUST NOT be accepted."""
    now = Clock(monkeypatch)
    exp = now.now + 60
    token = _sign(jwt_keys, {"exp": exp})
    now.now = exp - 1
    assert (await jwt_access.decode(jwt_keys, token, issuer=ISSUER))["exp"] == exp
    for later in (exp, exp + 3600):
        now.now = later
        with pytest.raises(InvalidAccessToken, match="expired"):
            await jwt_access.decode(jwt_keys, token, issuer=ISSUER)
        claims = await jwt_access.decode(jwt_keys, token, issuer=ISSUER, allow_expired=True)
        assert claims["exp"] == exp
    # allow_expired relaxes only the time check, nothing else.
    with pytest.raises(InvalidAccessToken, match="wrong issuer"):
        await jwt_access.decode(jwt_keys, token, issuer="https://other", allow_expired=True)
    tampered = _tampered_signature(jwt_keys)
    with pytest.raises(InvalidAccessToken, match="bad signature"):
        await jwt_access.decode(jwt_keys, tampered, issuer=ISSUER, allow_expired=True)


@pytest.mark.anyio
async def test_rfc8725_s3_token_size_cap(jwt_keys: KeyManager) -> None:
    """RFC 8725 §3 (input limits): a signed token up to MAX_TOKEN_LENGTH verifies; longer not."""
    limit = jwt_access.MAX_TOKEN_LENGTH
    base = len(_sign(jwt_keys, {"padding": ""}))
    fitting = _sign(jwt_keys, {"padding": "x" * ((limit - base) * 3 // 4)})
    assert limit - 4 <= len(fitting) <= limit
    assert (await jwt_access.decode(jwt_keys, fitting, issuer=ISSUER))["iss"] == ISSUER
    with pytest.raises(InvalidAccessToken, match="not a JWT"):
        await jwt_access.decode(jwt_keys, fitting + "A" * (limit + 1 - len(fitting)), issuer=ISSUER)


@pytest.mark.anyio
async def test_rfc7515_verified_signature_cache_never_widens_what_verifies(
    jwt_keys: KeyManager,
) -> None:
    """A token verified once is remembered by its digest, but only the signature
    check is: a tampered copy still fails, callers cannot alter what the next one gets, the
    key must be the very one that verified it, and the cache stays bounded."""
    token = _sign(jwt_keys, {})
    first = await jwt_access.decode(jwt_keys, token, issuer=ISSUER)
    first["sub"] = "someone-else"
    assert (await jwt_access.decode(jwt_keys, token, issuer=ISSUER))["sub"] == "user-1"
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    with pytest.raises(InvalidAccessToken, match="bad signature"):
        await jwt_access.decode(jwt_keys, f"{head}.{_b64(bytes(raw))}", issuer=ISSUER)
    with pytest.raises(InvalidAccessToken, match="wrong issuer"):
        await jwt_access.decode(jwt_keys, token, issuer="https://other.example.com")

    key = hashlib.sha256(token.encode()).digest()
    remembered = signed._verified.peek(key)
    assert remembered is not None
    loaded, claims = remembered
    # An entry tied to another key object (the key was replaced) is not trusted.
    signed._verified.put(key, (dataclasses.replace(loaded), {**claims, "sub": "forged"}))
    assert (await jwt_access.decode(jwt_keys, token, issuer=ISSUER))["sub"] == "user-1"
    # Digests only, never the bearer token.
    assert token not in str([(k, signed._verified.peek(k)) for k in signed._verified])

    while len(signed._verified) < signed.VERIFIED_MAX:
        signed._verified.put(uuid.uuid4().bytes, (loaded, claims))
    await jwt_access.decode(jwt_keys, _sign(jwt_keys, {}), issuer=ISSUER)
    assert len(signed._verified) == signed.VERIFIED_MAX


# -- repositories (shared database) ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Issued:
    """What a redemption issues (``domain.codes.Redemption``)."""

    access_jti: str
    access_expires_at: int
    refresh: NewRefreshToken | None = None


class _Decide:
    """Grants the code it is shown, issuing ``issued``."""

    def __init__(self, issued: _Issued) -> None:
        self.issued = issued

    async def __call__(self, state: CodeState) -> _Issued:
        return self.issued


def _with_refresh(client_id: str, family_id: str, access_jti: str) -> _Issued:
    refresh = NewRefreshToken(
        token_hash=digest(new_token(REFRESH_TOKEN_PREFIX)),
        family_id=family_id,
        client_id=client_id,
        user_id=None,
        scopes=["read"],
        auth_time=clock.now(),
        ttl=3600,
        access_jti=access_jti,
        access_expires_at=9,
    )
    return _Issued(access_jti, 9, refresh)


@pytest.mark.anyio
async def test_rfc6749_s4_1_2_code_is_single_use(database_url: str) -> None:
    """RFC 6749 §4.1.2: the authorization code MUST NOT be used more than once."""
    async with open_services(database_url) as services:
        codes = services.store.codes
        code_hash = digest(new_token(AUTHORIZATION_CODE_PREFIX))
        client_id = "client-" + uuid.uuid4().hex[:8]
        await codes.add(
            code_hash=code_hash,
            client_id=client_id,
            user_id=str(uuid.uuid4()),
            session_hash=None,
            redirect_uri="https://app.example.com/callback",
            redirect_uri_given=True,
            scopes=["read"],
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            auth_time=clock.now(),
            ttl=60,
        )
        stored = await codes.state(code_hash)
        assert stored is not None
        assert stored.code.consumed_at is None
        assert stored.code.scopes == ("read",)
        issued = _with_refresh(client_id, "family-1", "jti-1")
        assert await codes.redeem(code_hash, client_id, _Decide(issued)) == issued
        again = _with_refresh(client_id, "family-2", "jti-2")
        assert await codes.redeem(code_hash, client_id, _Decide(again)) is Refused.REPLAYED
        consumed = await codes.state(code_hash)
        assert consumed is not None
        assert consumed.code.consumed_at is not None
        # What the winner issues is recorded with the consumption, not by a later write.
        assert (consumed.code.family_id, consumed.code.access_jti) == ("family-1", "jti-1")
        assert issued.refresh is not None and again.refresh is not None
        assert await services.store.refresh_tokens.get(issued.refresh.token_hash) is not None
        assert await services.store.refresh_tokens.get(again.refresh.token_hash) is None
        never = digest("never-issued")
        assert await codes.redeem(never, client_id, _Decide(again)) is Refused.UNKNOWN


@pytest.mark.anyio
async def test_rfc6749_s4_1_2_concurrent_consume_has_one_winner(database_url: str) -> None:
    """RFC 6749 §4.1.2 / RFC 9700 §4.5: of racing redemptions exactly one succeeds."""
    async with open_services(database_url) as services:
        codes = services.store.codes
        code_hash = digest(new_token(AUTHORIZATION_CODE_PREFIX))
        await codes.add(
            code_hash=code_hash,
            client_id="client-race",
            user_id=str(uuid.uuid4()),
            session_hash=None,
            redirect_uri="https://app.example.com/callback",
            redirect_uri_given=False,
            scopes=[],
            code_challenge=None,
            auth_time=clock.now(),
            ttl=60,
        )
        deciding = [_Decide(_Issued(f"j{i}", 9)) for i in range(5)]
        results = await asyncio.gather(
            *(codes.redeem(code_hash, "client-race", decide) for decide in deciding)
        )
        assert sorted(r is Refused.REPLAYED for r in results) == [False] + [True] * 4


async def _add_refresh(
    services: Services, family: str, *, access_jti: str, access_expires_at: int
) -> bytes:
    token_hash = digest(new_token(REFRESH_TOKEN_PREFIX))
    await services.store.refresh_tokens.add(
        token_hash=token_hash,
        family_id=family,
        client_id="client-rt",
        user_id=str(uuid.uuid4()),
        scopes=["read", "offline"],
        auth_time=clock.now(),
        ttl=3600,
        access_jti=access_jti,
        access_expires_at=access_expires_at,
    )
    return token_hash


@pytest.mark.anyio
async def test_rfc9700_s4_14_2_refresh_token_single_use_and_family_revocation(
    database_url: str,
) -> None:
    """RFC 9700 §4.14.2: rotated refresh tokens are single use; reuse revokes the family."""
    async with open_services(database_url) as services:
        repo = services.store.refresh_tokens
        now = clock.now()
        family, other_family = str(uuid.uuid4()), str(uuid.uuid4())
        live_a, live_b, dead = (f"jti-{uuid.uuid4().hex[:12]}" for _ in range(3))
        first = await _add_refresh(services, family, access_jti=dead, access_expires_at=now - 5)
        second = await _add_refresh(
            services, family, access_jti=live_a, access_expires_at=now + 600
        )
        third = await _add_refresh(services, family, access_jti=live_b, access_expires_at=now + 900)
        bystander = await _add_refresh(
            services,
            other_family,
            access_jti=f"jti-{uuid.uuid4().hex[:12]}",
            access_expires_at=now + 600,
        )

        def successor(of_family: str) -> NewRefreshToken:
            # What a rotation stores; its access token has expired, so no revocation
            # below has to name it.
            return NewRefreshToken(
                token_hash=digest(new_token(REFRESH_TOKEN_PREFIX)),
                family_id=of_family,
                client_id="client-rt",
                user_id=None,
                scopes=["read"],
                auth_time=now,
                ttl=3600,
                access_jti=f"jti-{uuid.uuid4().hex[:12]}",
                access_expires_at=now - 5,
            )

        assert await repo.rotate(first, successor(family)) is True
        assert await repo.rotate(first, successor(family)) is False
        assert await repo.rotate(digest("never-issued"), successor(family)) is False

        revoked = await repo.revoke_family(family)
        assert {(r.jti, r.expires_at) for r in revoked} == {
            (live_a, now + 600),
            (live_b, now + 900),
        }
        for token_hash in (first, second, third):
            row = await repo.get(token_hash)
            assert row is not None
            assert row.revoked_at is not None
        # A revoked token cannot be claimed for rotation any more.
        assert await repo.rotate(second, successor(family)) is False
        untouched = await repo.get(bystander)
        assert untouched is not None
        assert untouched.revoked_at is None
        assert await repo.rotate(bystander, successor(other_family)) is True


@pytest.mark.anyio
async def test_rfc7009_s2_revocation_is_idempotent(database_url: str) -> None:
    """RFC 7009 §2.2: revoking an already revoked token is not an error."""
    async with open_services(database_url) as services:
        repo = services.store.revocations
        jti = f"jti-{uuid.uuid4().hex}"
        exp = clock.now() + 600
        assert (await repo.access_state(jti, None, None)).revoked is False
        await repo.revoke([(jti, exp)])
        await repo.revoke([(jti, exp)])
        await repo.revoke([(jti, exp + 5), (f"jti-{uuid.uuid4().hex}", exp)])
        await repo.revoke([])
        assert (await repo.access_state(jti, None, None)).revoked is True
        assert (await repo.access_state(f"jti-{uuid.uuid4().hex}", None, None)).revoked is False


@pytest.mark.anyio
async def test_rfc7009_s2_purge_removes_only_expired_entries(database_url: str) -> None:
    """RFC 7009 §2: a deny-list entry is only needed until the token would have expired."""
    async with open_services(database_url) as services:
        repo = services.store.revocations
        now = clock.now()
        expired = [f"jti-{uuid.uuid4().hex}" for _ in range(3)]
        live = [f"jti-{uuid.uuid4().hex}" for _ in range(2)]
        await repo.revoke([(j, now - 100) for j in expired] + [(j, now + 3600) for j in live])
        assert await repo.purge_expired() >= len(expired)
        for jti in expired:
            assert (await repo.access_state(jti, None, None)).revoked is False
        for jti in live:
            assert (await repo.access_state(jti, None, None)).revoked is True
