"""Encryption at rest of upstream client secrets and (when kept) upstream tokens."""

from __future__ import annotations

from ostiary.crypto.sealing import Sealer
from ostiary.settings import Settings


def client_secrets(settings: Settings) -> Sealer:
    return Sealer(settings.require_secret_key(), "federation-client-secrets")


def upstream_tokens(settings: Settings) -> Sealer:
    return Sealer(settings.require_secret_key(), "federation-upstream-tokens")


def flow_secrets(settings: Settings) -> Sealer:
    return Sealer(settings.require_secret_key(), "federation-flow")
