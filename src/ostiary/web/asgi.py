"""ASGI entry point for uvicorn workers: ``uvicorn --factory ostiary.web.asgi:build``."""

from starlette.applications import Starlette

from ostiary.settings import load_settings
from ostiary.web import http_protocol
from ostiary.web.app import create_app


def build() -> Starlette:
    settings = load_settings()
    http_protocol.configure(settings.http)
    return create_app(settings)
