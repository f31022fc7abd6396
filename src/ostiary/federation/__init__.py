"""Sign in with upstream identity providers (OpenID Connect and OAuth 2.0 connectors)."""
