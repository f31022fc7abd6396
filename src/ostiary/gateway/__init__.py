"""An identity-aware reverse proxy in front of any HTTP app (docs/gateway.md)."""

from ostiary.gateway.app import Gateway
from ostiary.gateway.config import ConfigError, GatewayConfig, load_config
from ostiary.gateway.rules import Rule, RuleError, RuleSet, normalise_path, parse_rule

__all__ = [
    "ConfigError",
    "Gateway",
    "GatewayConfig",
    "Rule",
    "RuleError",
    "RuleSet",
    "load_config",
    "normalise_path",
    "parse_rule",
]
