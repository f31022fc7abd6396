"""The console's own checks of its ID token (OIDC Core §3.1.3.7 steps 3 and 11, and the
``acr`` it asked for with ``acr_values``, §3.1.2.1): each broken rule is refused."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID
from ostiary.admin.console.signin import Rejected, check_claims
from ostiary.domain.mfa import ACR_MFA, ACR_PHR, ACR_PWD

NONCE = "n-0S6_WzA2Mj"
GOOD: dict[str, Any] = {
    "aud": CONSOLE_CLIENT_ID,
    "nonce": NONCE,
    "sub": "a-user",
    "sid": "a-session",
    "acr": ACR_MFA,
}


@pytest.mark.parametrize(
    "claims",
    [GOOD, {**GOOD, "aud": ["other", CONSOLE_CLIENT_ID]}, {**GOOD, "acr": ACR_PHR}],
)
def test_oidc_core_s3_1_3_7_a_fitting_id_token_passes(claims: dict[str, Any]) -> None:
    check_claims(claims, NONCE, wants_mfa=True)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-client"},
        {"aud": ["another-client"]},
        {"aud": None},
        {"nonce": "someone-elses"},
        {"nonce": None},
        {"sub": None},
        {"sid": None},
        {"sid": 7},
        {"acr": ACR_PWD},
        {"acr": None},
        {"acr": "urn:unknown"},
    ],
)
def test_oidc_core_s3_1_3_7_a_broken_rule_is_refused(change: dict[str, Any]) -> None:
    claims = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(Rejected):
        check_claims(claims, NONCE, wants_mfa=True)


def test_with_mfa_off_a_password_level_is_enough() -> None:
    check_claims({**GOOD, "acr": ACR_PWD}, NONCE, wants_mfa=False)
