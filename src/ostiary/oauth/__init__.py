"""OAuth 2.0 protocol logic (RFC 6749 and friends). No web framework imports here."""
