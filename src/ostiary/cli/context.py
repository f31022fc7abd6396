"""Open the services for one command, run it, close them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade

T = TypeVar("T")


def run_with_services(action: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        services = build_services(load_settings())
        try:
            await upgrade(services.engine)
            return await action(services)
        finally:
            await services.close()

    return asyncio.run(main())
