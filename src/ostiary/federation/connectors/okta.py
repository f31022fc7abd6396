"""Okta: the org authorization server or a custom one (``/oauth2/<id>``), nothing else.

Operators often paste ``https://acme.okta.com/oauth2/v1``: that is the org server's
endpoint prefix, not an issuer, and discovery there fails obscurely, so it is refused
up front. Groups come from the ``groups`` scope on the org server and from a groups claim
configured on a custom server.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from ostiary.federation.connectors.oidc import OidcConnector
from ostiary.federation.providers import Provider, ProviderConfigError

_CUSTOM = re.compile(r"/oauth2/(?!v1$)[A-Za-z0-9]+")


def server_kind(issuer: str) -> str:
    path = urlsplit(issuer).path.rstrip("/")
    if path == "":
        return "org"
    if _CUSTOM.fullmatch(path):
        return "custom"
    raise ProviderConfigError(
        "issuer: an Okta org (https://acme.okta.com) or a custom authorization server "
        "(https://acme.okta.com/oauth2/default)"
    )


class OktaConnector(OidcConnector):
    preset = "okta"
    default_scopes: tuple[str, ...] = ("openid", "email", "profile", "groups")

    def configure(self, provider: Provider) -> Provider:
        kind = server_kind(provider.issuer)
        options = {**provider.options, "authorization_server": kind}
        return dataclasses.replace(provider, issuer=provider.issuer.rstrip("/"), options=options)
