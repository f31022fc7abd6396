"""Configuration as code: the server's state as one JSON document, and applying it back."""
