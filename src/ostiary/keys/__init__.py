"""Signing keys: generation, sealing at rest, rotation, the JWKS (RFC 7517)."""
