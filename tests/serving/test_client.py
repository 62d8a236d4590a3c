"""``riskline.serving.client`` on its own: answers parsed by Content-Length, a dropped
connection is an error for its request only, bad arguments are refused."""

from __future__ import annotations

import asyncio

import pytest

from riskline.serving.client import post_request, replay


def test_post_request_is_a_complete_http_message() -> None:
    raw = post_request("/v1/x", b'{"a":1}', {"X-API-Key": "k"})
    head, body = raw.split(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /v1/x HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: application/json",
        b"X-API-Key: k",
        b"Content-Length: 7",
    ]
    assert body == b'{"a":1}'


async def _serve_then_replay(requests: list[bytes], connections: int) -> list[tuple[int, bytes]]:
    """A server that echoes each body with status 201, but drops the connection on 'drop'."""

    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                if body == b"drop":
                    writer.close()
                    return
                if body == b"close":
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
                    writer.write(b"Content-Length: 0\r\n\r\n")
                    writer.close()
                    return
                writer.write(
                    b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        finally:
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        replies = await replay(port, requests, connections=connections)
        await asyncio.gather(*handlers)  # each sees its connection closed by the client
    return [(r.status, r.body) for r in replies]


def test_a_dropped_connection_fails_its_request_only_and_a_closed_one_is_reopened() -> None:
    bodies = [b"a", b"drop", b"c", b"d", b"drop", b"f", b"close", b"h"]
    requests = [post_request("/", b, {}) for b in bodies]
    replies = asyncio.run(_serve_then_replay(requests, connections=1))
    assert replies == [
        (201, b"a"),
        (0, b""),
        (201, b"c"),
        (201, b"d"),
        (0, b""),
        (201, b"f"),
        (200, b""),  # answered, then the server closed: the next request reconnects
        (201, b"h"),
    ]


def test_replay_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="connections must be at least 1"):
        asyncio.run(replay(1, [], connections=0))
    with pytest.raises(ValueError, match="rate must be positive"):
        asyncio.run(replay(1, [], connections=1, rate=0))
