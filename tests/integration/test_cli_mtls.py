"""``ostiary client create|update --tls-subject-dn --tls-bound-tokens`` (RFC 8705 §2.1.2,
§3.4): the real executable on SQLite and PostgreSQL; the registration rules refuse what
the server could not honour, with the reason on stderr."""

from __future__ import annotations

import pytest

from tests.conftest import SECRET_KEY, unique
from tests.e2e.processes import clean_env
from tests.integration.test_cli import failed, one_json_document, ostiary


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def test_rfc8705_2_1_2_a_tls_client_auth_client_from_the_command_line(
    env: dict[str, str],
) -> None:
    client_id = unique("mtls")
    created = one_json_document(
        ostiary(env, "client", "create", "--name", "Orders batch", "--client-id", client_id,
                "--grant-type", "client_credentials", "--scope", "read",
                "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=orders,O=Example",
                "--tls-bound-tokens", "--json")
    )  # fmt: skip
    assert created["token_endpoint_auth_method"] == "tls_client_auth"
    assert created["tls_client_auth_subject_dn"] == "CN=orders,O=Example"
    assert created["tls_client_certificate_bound_access_tokens"] is True
    # Another method leaves the subject DN behind; the binding stays as registered.
    updated = one_json_document(
        ostiary(env, "client", "update", client_id, "--auth-method", "client_secret_basic",
                "--no-tls-bound-tokens", "--json")
    )  # fmt: skip
    assert updated["tls_client_auth_subject_dn"] is None
    assert updated["tls_client_certificate_bound_access_tokens"] is False


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--auth-method", "tls_client_auth"), "subject_dn"),
        (("--auth-method", "tls_client_auth", "--tls-subject-dn", "cn=x, o=y"), "RFC 4514"),
        (("--tls-subject-dn", "CN=x"), "tls_client_auth only"),
        (("--auth-method", "self_signed_tls_client_auth"), "jwks"),
        (("--tls-bound-tokens", "--require-dpop"), "not both"),
    ],
)
def test_rfc8705_registration_rules_on_the_command_line(
    env: dict[str, str], args: tuple[str, ...], reason: str
) -> None:
    failed(
        ostiary(env, "client", "create", "--name", "x", "--grant-type", "client_credentials",
                "--scope", "read", *args),
        reason,
    )  # fmt: skip
