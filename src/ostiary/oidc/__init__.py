"""OpenID Connect on top of the OAuth 2.0 core (OIDC Core 1.0 and companions)."""
