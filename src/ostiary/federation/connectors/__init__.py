"""Connectors by preset name: one module per vendor, one registration line each."""

from __future__ import annotations

from ostiary.federation.connectors.base import Connector
from ostiary.federation.connectors.entra import EntraConnector
from ostiary.federation.connectors.github import GitHubConnector
from ostiary.federation.connectors.google import GoogleConnector
from ostiary.federation.connectors.oidc import OidcConnector
from ostiary.federation.connectors.okta import OktaConnector

REGISTRY: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    REGISTRY[connector.preset] = connector


def connector_for(preset: str) -> Connector:
    try:
        return REGISTRY[preset]
    except KeyError:
        raise ValueError(
            f"unknown preset {preset!r}: one of {', '.join(sorted(REGISTRY))}"
        ) from None


register(OidcConnector())
register(GoogleConnector())
register(EntraConnector())
register(OktaConnector())
register(GitHubConnector())
