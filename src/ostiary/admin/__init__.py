"""Administration: bootstrap and the admin REST API (/admin/api/v1)."""
