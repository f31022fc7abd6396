"""What the slow-sender deadlines cost per request: uvicorn's HttpToolsProtocol against
ostiary.web.http_protocol.TimedHttpToolsProtocol, in process, interleaved rounds.

    .venv/bin/python bench/http_protocol_overhead.py [-n 20000] [--rounds 7]

Each round feeds ``n`` keep-alive GET requests to one connection of each protocol (a
transport that discards what is written, a minimal ASGI app) and prints CPU microseconds
per request (``time.process_time``: insensitive to other load), the median of the rounds
and the difference: the deadlines' own cost, without the network or the application.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ostiary.web.http_protocol import TimedHttpToolsProtocol

REQUEST = b"GET /jwks.json HTTP/1.1\r\nHost: x\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


class Sink(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def per_request(cls: type[HttpToolsProtocol], n: int) -> float:
    config = Config(app=app, lifespan="off", access_log=False, log_level="error")
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(Sink())
    started = time.process_time()
    for _ in range(n):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)  # the request's task runs
        await asyncio.sleep(0)
    elapsed = time.process_time() - started
    protocol.connection_lost(None)
    return elapsed / n * 1e6


async def main(n: int, rounds: int) -> None:
    plain: list[float] = []
    timed: list[float] = []
    for _ in range(rounds):
        plain.append(await per_request(HttpToolsProtocol, n))
        timed.append(await per_request(TimedHttpToolsProtocol, n))
    p, t = statistics.median(plain), statistics.median(timed)
    print(f"uvicorn HttpToolsProtocol   {p:6.2f} µs/request  {[round(x, 1) for x in plain]}")
    print(f"TimedHttpToolsProtocol      {t:6.2f} µs/request  {[round(x, 1) for x in timed]}")
    print(f"deadlines cost              {t - p:6.2f} µs/request ({t / p:.3f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
