"""The admin console: server-rendered pages at /admin over the admin API's operations."""
