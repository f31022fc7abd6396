"""A blocking face of the verifier for WSGI apps and other threaded code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from ostiary.resource.authenticate import URL
from ostiary.resource.claims import Claims
from ostiary.resource.client_cert import CertificateSource
from ostiary.resource.verifier import TokenVerifier


class SyncTokenVerifier:
    """A blocking face for WSGI: runs the async verifier in a private event-loop thread,
    so its caches and connection pool are shared by every worker thread."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ostiary-verifier", daemon=True
        )
        self._thread.start()

    @property
    def dpop_algs(self) -> str | None:
        return self.verifier.dpop_algs

    def verify(self, token: str, timeout: float = 30) -> Claims:
        future = asyncio.run_coroutine_threadsafe(self.verifier.verify(token), self._loop)
        return future.result(timeout)

    def verify_request(
        self,
        authorization: str | None,
        proofs: Sequence[str] = (),
        *,
        method: str = "GET",
        url: URL = "",
        timeout: float = 30,
        certificate: CertificateSource = None,
    ) -> Claims:
        """``TokenVerifier.verify_request``, blocking."""
        check = self.verifier.verify_request(
            authorization, proofs, method=method, url=url, certificate=certificate
        )
        return asyncio.run_coroutine_threadsafe(check, self._loop).result(timeout)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.verifier.aclose(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
