"""grant_type → handler. Adding a grant is one module and one line here."""

from __future__ import annotations

from ostiary.oauth.grants.authorization_code import AuthorizationCodeGrant
from ostiary.oauth.grants.base import GrantHandler
from ostiary.oauth.grants.client_credentials import ClientCredentialsGrant
from ostiary.oauth.grants.refresh_token import RefreshTokenGrant

GRANTS: dict[str, GrantHandler] = {
    g.grant_type: g
    for g in (AuthorizationCodeGrant(), RefreshTokenGrant(), ClientCredentialsGrant())
}
