"""Table definitions (SQLAlchemy Core). Alembic migrations are written against these.

Secrets never appear as given: codes, refresh tokens, session ids and client secrets
are stored as SHA-256 digests; private keys are encrypted (see ``crypto.sealing``).
Timestamps are integer Unix seconds, which both SQLite and PostgreSQL index and compare
cheaply and which JWT claims use anyway.
"""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.schema import SchemaItem

from ostiary.storage.profile_names import NAME_KEYS, lower_profile_name

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = BigInteger


def _created_updated() -> tuple[Column[int], Column[int]]:
    return Column("created_at", Timestamp, nullable=False), Column(
        "updated_at", Timestamp, nullable=False
    )


def _cascade(name: str, key: Column[Any], *, primary_key: bool = False) -> Column[Any]:
    """A required reference to ``key``, of its type: the row goes with the row it names."""
    return Column(
        name,
        key.type,
        ForeignKey(key, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def _link(
    name: str, left: tuple[str, Column[Any]], right: tuple[str, Column[Any]], *rest: SchemaItem
) -> Table:
    """A many-to-many table: the two references are its key."""
    return Table(
        name,
        metadata,
        _cascade(*left, primary_key=True),
        _cascade(*right, primary_key=True),
        *rest,
    )


def _catalogue(name: str, key_length: int, *rest: SchemaItem) -> Table:
    """Names an administrator registers, each with its description."""
    return Table(
        name,
        metadata,
        Column("name", String(key_length), primary_key=True),
        Column("description", Text, nullable=False, server_default=""),
        Column("created_at", Timestamp, nullable=False),
        *rest,
    )


def _require_mfa() -> Column[bool]:
    # MFA policy: whoever holds this (role, group) or signs in to it (client) needs a
    # second factor (accounts.mfa.policy).
    return Column("require_mfa", Boolean, nullable=False, server_default="0")


clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", LargeBinary(32)),
    Column("public", Boolean, nullable=False),
    Column("token_endpoint_auth_method", String(40), nullable=False),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("audience", JSON, nullable=False),
    Column("first_party", Boolean, nullable=False, default=False),
    Column("access_token_ttl", Integer),
    Column("refresh_token_ttl", Integer),
    Column("created_at", Timestamp, nullable=False),
    # OpenID Connect registration metadata (Dynamic Client Registration 1.0 §2 names).
    Column("post_logout_redirect_uris", JSON, nullable=False, server_default="[]"),
    Column("backchannel_logout_uri", Text),
    Column("backchannel_logout_session_required", Boolean, nullable=False, server_default="0"),
    Column("id_token_signed_response_alg", String(16)),
    Column("id_token_ttl", Integer),
    # Refresh tokens for OpenID requests without offline_access, bound to the SSO session.
    Column("session_refresh_tokens", Boolean, nullable=False, server_default="0"),
    # RFC 9068 §2.2.3.1: put the user's roles / groups in its tokens.
    Column("include_roles", Boolean, nullable=False, server_default="0"),
    Column("include_groups", Boolean, nullable=False, server_default="0"),
    # Access tokens issued before this second are dead (revoke all, or a re-registered id).
    Column("tokens_valid_after", Timestamp, nullable=False, server_default="0"),
    _require_mfa(),
    # Client security (RFC 7591 §2 and the registration metadata of RFC 9126 §6,
    # RFC 9449 §5.2, RFC 9101 §10.5, RFC 8705 §2.1.2 and §3.4): the keys a client signs
    # with (given, or fetched from its jwks_uri), the one algorithm it signs its
    # authentication assertions with, and which protections it must use.
    Column("jwks", JSON),
    Column("jwks_uri", Text),
    Column("token_endpoint_auth_signing_alg", String(16)),
    # client_secret_jwt needs the secret itself to check an HMAC: kept sealed
    # (crypto.sealing), for such clients only.
    Column("secret_sealed", LargeBinary),
    Column("require_pushed_authorization_requests", Boolean, nullable=False, server_default="0"),
    Column("dpop_bound_access_tokens", Boolean, nullable=False, server_default="0"),
    Column("require_signed_request_object", Boolean, nullable=False, server_default="0"),
    Column("request_object_signing_alg", String(16)),
    Column("tls_client_auth_subject_dn", Text),
    Column(
        "tls_client_certificate_bound_access_tokens", Boolean, nullable=False, server_default="0"
    ),
    # A security profile the client is held to as a whole ("fapi2"), or none.
    Column("profile", String(16)),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(320)),
    Column("password_hash", String(200)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("email_verified", Boolean, nullable=False, server_default="0"),
    Column("phone_number", String(40)),
    Column("phone_number_verified", Boolean, nullable=False, server_default="0"),
    # Other OpenID Connect standard claims (OIDC Core §5.1): name, given_name, address...
    Column("profile", JSON, nullable=False, server_default="{}"),
    *_created_updated(),
)
# One account per address, compared case-insensitively (migration 0010). Created only
# once no address is shared: see ``storage.email_index``, which also explains lower().
users_email_index = Index(
    "ux_users_email_lower",
    func.lower(users.c.email),
    unique=True,
    sqlite_where=users.c.email.is_not(None),
    postgresql_where=users.c.email.is_not(None),
)
# The console's name search (migration 0012): a name set anywhere but SCIM lives only in
# the profile. ``profile_names`` explains why the expression is not SQLAlchemy's own.
users_profile_name_indexes = [
    Index(f"ix_users_profile_{key}_lower", lower_profile_name(users.c.profile, key))
    for key in NAME_KEYS
]

# Second factors: TOTP secrets (sealed) and passkeys (public keys), several per user.
mfa_factors = Table(
    "mfa_factors",
    metadata,
    Column("id", String(36), primary_key=True),
    _cascade("user_id", users.c.id),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp),
    Column("confirmed", Boolean, nullable=False, server_default="1"),
    Column("secret", LargeBinary),
    Column("last_step", BigInteger),
    Column("credential_id", LargeBinary(1023), unique=True),
    Column("public_key", LargeBinary),
    Column("sign_count", BigInteger, nullable=False, server_default="0"),
    Column("transports", JSON, nullable=False, server_default="[]"),
    Column("backup_eligible", Boolean, nullable=False, server_default="0"),
    Column("backup_state", Boolean, nullable=False, server_default="0"),
    Column("discoverable", Boolean, nullable=False, server_default="0"),
    Index("ix_mfa_factors_user_id", "user_id"),
)

# Single-use recovery codes, as SHA-256 digests (the codes carry 50 random bits).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    _cascade("user_id", users.c.id, primary_key=True),
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("created_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_sealed", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("activates_at", Timestamp, nullable=False),
    Column("retired_at", Timestamp),
    Column("expires_at", Timestamp),
    Index("ix_signing_keys_alg_activates_at", "alg", "activates_at"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    _cascade("user_id", users.c.id),
    Column("auth_time", Timestamp, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    # The public session id (OIDC `sid` claim), safe to put in tokens.
    Column("sid", String(64), nullable=False, server_default=""),
    Column("amr", JSON, nullable=False, server_default="[]"),
    # Authentication context class, e.g. carried from an upstream provider (federation).
    Column("acr", String(64)),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_sid", "sid"),
)

# Which clients received tokens in which session: who to tell at logout.
session_clients = Table(
    "session_clients",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("created_at", Timestamp, nullable=False),
)

backchannel_logout_failures = Table(
    "backchannel_logout_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False),
    Column("sid", String(64)),
    Column("sub", String(64), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", Timestamp, nullable=False),
    Index("ix_backchannel_logout_failures_failed_at", "failed_at"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("browser_hash", LargeBinary(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    # Set once the user signed in within this interaction (prompt=login, max_age).
    Column("authenticated", Boolean, nullable=False, server_default="0"),
    # Who passed the first factor here and still owes a second one (or an enrolment), and
    # the second factor's state: the methods passed so far, a WebAuthn challenge. The
    # session starts only once both factors are done.
    Column("pending_user_id", String(36)),
    Column("pending", JSON),
    Index("ix_interactions_expires_at", "expires_at"),
)

consents = _link(
    "consents",
    ("user_id", users.c.id),
    ("client_id", clients.c.client_id),
    Column("scopes", JSON, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("session_hash", LargeBinary(32)),
    Column("redirect_uri", Text, nullable=False),
    Column("redirect_uri_given", Boolean, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("code_challenge", String(128)),
    Column("auth_time", Timestamp, nullable=False),
    Column("nonce", Text),
    Column("sid", String(64)),
    Column("acr", String(64)),
    Column("amr", JSON),
    Column("claims", JSON),
    Column("expires_at", Timestamp, nullable=False),
    Column("consumed_at", Timestamp),
    Column("replayed_at", Timestamp),
    # What the first exchange issued, so a replay can revoke it (RFC 6749 §4.1.2).
    Column("family_id", String(36)),
    Column("access_jti", String(64)),
    Column("access_expires_at", Timestamp),
    # The key the code is bound to (RFC 9449 §10: dpop_jkt at the authorization request),
    # and the resources the request named (RFC 8707 §2.1).
    Column("cnf", JSON),
    Column("resources", JSON),
    Index("ix_authorization_codes_expires_at", "expires_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("family_id", String(36), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36)),
    Column("scopes", JSON, nullable=False),
    Column("auth_time", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    # Session-bound refresh tokens die with the SSO session; offline ones (sid NULL) don't.
    Column("sid", String(64)),
    Column("acr", String(64)),
    Column("amr", JSON),
    Column("claims", JSON),
    Column("used_at", Timestamp),
    Column("revoked_at", Timestamp),
    # The access token issued alongside this refresh token, revoked with the family.
    Column("access_jti", String(64)),
    Column("access_expires_at", Timestamp),
    # A public client's refresh token is bound to its DPoP key (RFC 9449 §5); the
    # resources granted (RFC 8707 §2.2: a refresh may narrow them).
    Column("cnf", JSON),
    Column("resources", JSON),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
    Index("ix_refresh_tokens_expires_at", "expires_at"),
    Index("ix_refresh_tokens_sid", "sid"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),
)


# -- roles, groups and scopes (RBAC) ---------------------------------------------------

roles = _catalogue("roles", 100, _require_mfa())

user_roles = _link(
    "user_roles",
    ("user_id", users.c.id),
    ("role", roles.c.name),
    # Set when a federation claim mapping gave it (re-evaluated at each upstream login);
    # NULL for a manual assignment, which a mapping never removes.
    Column("federation_provider", String(64)),
    Index("ix_user_roles_role", "role"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    Column("external_id", String(200)),
    _require_mfa(),
    *_created_updated(),
)

group_members = _link(
    "group_members",
    ("group_id", groups.c.id),
    ("user_id", users.c.id),
    # As for user_roles: the provider whose claim mapping added the membership, or NULL.
    Column("federation_provider", String(64)),
    Index("ix_group_members_user_id", "user_id"),
)

# Nested groups: members of the child are members of the parent.
group_parents = _link("group_parents", ("child_id", groups.c.id), ("parent_id", groups.c.id))

group_roles = _link("group_roles", ("group_id", groups.c.id), ("role", roles.c.name))

# Registered scopes; a scope with required roles is only granted to users holding one.
scopes = _catalogue("scopes", 200)

scope_roles = _link("scope_roles", ("scope", scopes.c.name), ("role", roles.c.name))

# -- audit, throttling, one-time tokens ----------------------------------------------------

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Timestamp, nullable=False),
    Column("type", String(64), nullable=False),
    # Who did it: "user:<id>", "client:<id>", "admin:<id>" or "system".
    Column("actor", String(120), nullable=False),
    # Whom it concerns; replaced by a pseudonym when the user is deleted.
    Column("user_id", String(64)),
    Column("client_id", String(64)),
    Column("ip", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(200)),
    Column("details", JSON, nullable=False, server_default="{}"),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_user_id_at", "user_id", "at"),
    Index("ix_audit_events_type_at", "type", "at"),
)

# Failed attempts per key ("user:<name>", "ip:<addr>", "client:<id>|<addr>"), shared by
# every node.
throttles = Table(
    "throttles",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Timestamp, nullable=False),
    Column("locked_until", Timestamp, nullable=False),
    Index("ix_throttles_last_failure_at", "last_failure_at"),
)

# Requests per endpoint group and address ("authorize|203.0.113.9") in one fixed window,
# added up by every node (ostiary.limits); purged once the window has passed.
rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", Timestamp, primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_rate_limit_counters_expires_at", "expires_at"),
)

# Password-reset and email-verification tokens: digests, single use, short lived.
# -- client security ---------------------------------------------------------------------

# Identifiers that may be used once within their lifetime, across every node: client
# assertion and DPoP proof jtis (RFC 7523 §3 item 7, RFC 9449 §11.1). The key is a digest
# of what the identifier is scoped to and the identifier itself.
used_jtis = Table(
    "used_jtis",
    metadata,
    Column("key", LargeBinary(32), primary_key=True),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_used_jtis_expires_at", "expires_at"),
)

# Pushed authorization requests (RFC 9126 §2): the request's parameters under the digest
# of its request_uri, until used once or expired.
pushed_authorizations = Table(
    "pushed_authorizations",
    metadata,
    Column("uri_hash", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_pushed_authorizations_expires_at", "expires_at"),
)

# Protected resources a client may ask tokens for (RFC 8707): the URI is the audience of
# their tokens; a resource accepts only its scopes.
resources = Table(
    "resources",
    metadata,
    Column("uri", String(2000), primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

one_time_tokens = Table(
    "one_time_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    _cascade("user_id", users.c.id),
    Column("purpose", String(32), nullable=False),
    Column("email", String(320)),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
    Index("ix_one_time_tokens_expires_at", "expires_at"),
    Index("ix_one_time_tokens_user_id", "user_id"),
)

# -- revocation feed --------------------------------------------------------------------

# What resource servers must stop accepting, in the order it happened. The id is the
# feed cursor; rows go once no token they could match is still unexpired.
revocation_events = Table(
    "revocation_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    # "jti", "sub", "sid" or "client".
    Column("kind", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    # sub / client: tokens with iat < not_before are dead; jti / sid: when it was revoked.
    Column("not_before", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_revocation_events_expires_at", "expires_at"),
)

# -- federation (upstream identity providers) ---------------------------------------------

# An upstream OpenID Connect / OAuth 2.0 provider users may sign in with.
federation_providers = Table(
    "federation_providers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    # Connector in the registry: "oidc", "google", "entra", "okta" or "github".
    Column("preset", String(16), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("client_id", String(255), nullable=False),
    # Usable at the token endpoint, so encrypted rather than hashed (crypto.sealing).
    Column("client_secret_sealed", LargeBinary),
    Column("scopes", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    # Just-in-time provisioning: "allow", "existing" (verified email match) or "deny".
    Column("provisioning", String(16), nullable=False, server_default="allow"),
    # Link to an existing account by email when the provider says it is verified.
    Column("trust_email", Boolean, nullable=False, server_default="0"),
    # The provider's amr/acr saying the user passed MFA upstream counts here (MFA policy).
    Column("trust_mfa", Boolean, nullable=False, server_default="0"),
    # Keep upstream access / refresh tokens (encrypted) after the login.
    Column("store_tokens", Boolean, nullable=False, server_default="0"),
    # Claim-mapping rules, one rule per string (federation.mapping).
    Column("mapping", JSON, nullable=False, server_default="[]"),
    # Connector options: allowed tenants, hosted domain, API base URL, auth method...
    Column("options", JSON, nullable=False, server_default="{}"),
    *_created_updated(),
)

# The link key is (provider, upstream sub), never the email.
federated_identities = Table(
    "federated_identities",
    metadata,
    _cascade("provider", federation_providers.c.name, primary_key=True),
    Column("subject", String(255), primary_key=True),
    _cascade("user_id", users.c.id),
    Column("email", String(320)),
    Column("access_token_sealed", LargeBinary),
    Column("refresh_token_sealed", LargeBinary),
    Column("token_expires_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("last_login_at", Timestamp, nullable=False),
    Index("ix_federated_identities_user_id", "user_id"),
)

# One upstream authorization request in flight, keyed by the digest of its state and
# bound to the browser that started it.
federation_states = Table(
    "federation_states",
    metadata,
    Column("state_hash", LargeBinary(32), primary_key=True),
    Column("browser_hash", LargeBinary(32), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("code_verifier_sealed", LargeBinary, nullable=False),
    # The authorization request (interaction) to resume afterwards, if any.
    Column("interaction_id", String(64)),
    # Set when a signed-in user links another identity from the account page.
    Column("link_user_id", String(36)),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_federation_states_expires_at", "expires_at"),
)

# -- SCIM 2.0 provisioning (RFC 7643 / RFC 7644) -----------------------------------------

# The SCIM view of a user, one row per user: the attributes filters may name, as indexed
# columns ("_ci" columns hold the lowercased value of a caseExact=false attribute), and the
# rest of the representation as JSON (not filterable: a filter naming it is invalidFilter).


def _ci(length: int) -> String:
    """Lowercased text compared by code point: on PostgreSQL the C collation, so `sw`
    ranges and ordering match SQLite's binary collation and can use the index."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


scim_users = Table(
    "scim_users",
    metadata,
    _cascade("user_id", users.c.id, primary_key=True),
    # RFC 7643 §4.1.1: userName is unique and caseExact=false.
    Column("user_name_ci", _ci(150), nullable=False, unique=True),
    Column("external_id", String(200)),
    Column("display_name_ci", _ci(200)),
    Column("given_name_ci", _ci(200)),
    Column("family_name_ci", _ci(200)),
    Column("resource", JSON, nullable=False, server_default="{}"),
    # RFC 7644 §3.14: bumped by every SCIM write; a conditional UPDATE on it makes
    # If-Match atomic. Part of meta.version.
    Column("version", Integer, nullable=False, server_default="1"),
    Index("ix_scim_users_external_id", "external_id"),
    Index("ix_scim_users_display_name_ci", "display_name_ci"),
    Index("ix_scim_users_given_name_ci", "given_name_ci"),
    Index("ix_scim_users_family_name_ci", "family_name_ci"),
)


def _scim_multi_valued(name: str, value_length: int) -> Table:
    """A multi-valued attribute as rows, so `emails[...]` filters are EXISTS subqueries."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        _cascade("user_id", users.c.id),
        Column("value_ci", _ci(value_length), nullable=False),
        Column("type", String(40)),
        Column("primary", Boolean, nullable=False, server_default="0"),
        Index(f"ix_{name}_user_id", "user_id"),
        Index(f"ix_{name}_value_ci", "value_ci"),
    )


scim_user_emails = _scim_multi_valued("scim_user_emails", 320)
scim_user_phones = _scim_multi_valued("scim_user_phones", 64)

# A group's version counter (RFC 7644 §3.14), bumped by every SCIM write to the group or
# its members, so meta.version and If-Match never need the member list. Groups made
# elsewhere have no row until SCIM first writes them (version 0).
scim_groups = Table(
    "scim_groups",
    metadata,
    _cascade("group_id", groups.c.id, primary_key=True),
    Column("version", Integer, nullable=False, server_default="1"),
)

# SCIM filters and sorts on columns of tables other features own.
Index("ix_users_disabled", users.c.disabled)
Index("ix_users_created_at", users.c.created_at)
Index("ix_users_updated_at", users.c.updated_at)
Index("ix_groups_external_id", groups.c.external_id)
# Hot-path indexes (migration 0007): deleting or revoking a client (its refresh
# tokens; the consents its deletion cascades to) and ending a session (its codes' tokens).
Index("ix_refresh_tokens_client_id", refresh_tokens.c.client_id)
Index("ix_consents_client_id", consents.c.client_id)
Index("ix_authorization_codes_sid", authorization_codes.c.sid)
