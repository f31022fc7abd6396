"""Multi-factor authentication: TOTP (RFC 6238), passkeys (WebAuthn), recovery codes, and
the policy saying who must use them."""
