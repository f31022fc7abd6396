"""Client authentication (RFC 6749 §2.3), one module per method, chosen by registry."""
