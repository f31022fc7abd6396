"""Ostiary: an OAuth 2.0 / OpenID Connect identity server."""

__version__ = "0.1.0"
