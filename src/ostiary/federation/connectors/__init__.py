"""Connectors by preset name: one module per vendor, one registration line each."""

from __future__ import annotations

from ostiary.federation.connectors.base import Connector
from ostiary.federation.connectors.entra import EntraConnector
from ostiary.federation.connectors.github import GitHubConnector
from ostiary.federation.connectors.google import GoogleConnector
from ostiary.federation.connectors.oidc import OidcConnector
from ostiary.federation.connectors.okta import OktaConnector
from ostiary.federation.providers import Provider

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


def new_provider(
    *,
    name: str,
    preset: str,
    issuer: str,
    client_id: str,
    display_name: str | None = None,
    client_secret: str | None = None,
) -> Provider:
    """A provider as its preset starts it (its default scopes; the name as the label), before
    the caller's settings; every door that adds one (CLI, admin API, import) begins here."""
    return Provider(
        name=name,
        display_name=display_name or name,
        preset=preset,
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        scopes=connector_for(preset).default_scopes,
    )


register(OidcConnector())
register(GoogleConnector())
register(EntraConnector())
register(OktaConnector())
register(GitHubConnector())
