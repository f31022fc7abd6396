"""ASGI entry point for uvicorn workers: ``uvicorn --factory ostiary.web.asgi:build``."""

from starlette.applications import Starlette

from ostiary.settings import load_settings
from ostiary.web.app import create_app


def build() -> Starlette:
    return create_app(load_settings())
