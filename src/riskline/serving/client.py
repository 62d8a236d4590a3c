"""A lean HTTP/1.1 client that replays many POSTs against a running service: the demo's
replay and bench/serve.py's load generator.

Raw requests over a fixed pool of keep-alive connections (asyncio streams), so the client
measures the service rather than itself: httpx spent ~1 ms of CPU per request on the 2-core
reference machine, which showed up as 15 ms of "client latency" in the demo while the
service answered in 2 ms. Open loop (``rate``: each request is due at its scheduled time,
and its latency counts from then, so queueing is not hidden) or closed loop (as fast as the
connections allow; latency counts from the send).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: HTTP ``status`` (0: the connection failed), ``body``, and ``ms`` from the
    request's due time (open loop) or send (closed loop) to the answer's last byte."""

    status: int
    body: bytes
    ms: float


def post_request(path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The bytes of ``POST path`` with a JSON ``body`` (keep-alive, to 127.0.0.1)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def replay(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    rate: float | None = None,
    done: Callable[[], None] | None = None,
) -> list[Reply]:
    """Send ``requests`` (from ``post_request``) to 127.0.0.1:``port`` over ``connections``
    keep-alive connections; their replies in request order. ``rate`` (requests/s) makes it
    an open loop; ``done`` is called after each reply (a progress bar)."""
    if connections < 1:
        raise ValueError(f"connections must be at least 1, got {connections}.")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}.")
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    replies: list[Reply | None] = [None] * len(requests)

    async def one(i: int, due: float | None) -> None:
        link = await free.get()
        sent = clock() if due is None else due
        try:
            if link is None:  # a failed connection is reopened by the next request
                link = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = link
            writer.write(requests[i])
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
            replies[i] = Reply(int(head[9:12]), body, (clock() - sent) * 1000)
            if b"\r\nconnection: close" in head.lower():  # the server ends this connection
                writer.close()
                link = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            replies[i] = Reply(0, b"", (clock() - sent) * 1000)
            if link is not None:
                link[1].close()
            link = None
        free.put_nowait(link)
        if done is not None:
            done()

    try:
        if rate is None:
            await asyncio.gather(*(one(i, None) for i in range(len(requests))))
        else:
            tasks = []
            start = clock() + 0.05
            for i in range(len(requests)):
                due = start + i / rate
                if (delay := due - clock()) > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(one(i, due)))
            await asyncio.gather(*tasks)
    finally:
        while not free.empty():
            if (link := free.get_nowait()) is not None:
                link[1].close()
    return [r for r in replies if r is not None]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("the answer has no Content-Length")
