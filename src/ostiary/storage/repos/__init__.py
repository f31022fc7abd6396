"""Repositories: async methods over SQLAlchemy Core, one module per aggregate."""
