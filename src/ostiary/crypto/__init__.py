"""Small wrappers over `secrets`, `hashlib` and `cryptography`; no hand-written crypto."""
