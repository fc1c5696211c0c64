"""A byte relay between a TCP address and a Unix socket, so a process in a private network namespace reaches the API.

Tekton's controller listens on every interface (its probe server, knative's profiling and metrics servers) and
no flag narrows that, so it runs in a network namespace of its own whose only interface is ``lo``. Two relays
connect it to the API server on the host's loopback through a Unix socket (files are shared across network
namespaces, sockets on ``127.0.0.1`` are not)::

    host:    unix:<run>/apiserver.sock  ->  tcp:127.0.0.1:<apiserver port>      (relay, host namespace)
    netns:   tcp:127.0.0.1:<port>       ->  unix:<run>/apiserver.sock           (relay inside `netns run`)

TLS passes through untouched, so the controller verifies the real serving certificate.

Usage: ``python -m tests.support.cluster.relay LISTEN CONNECT`` with addresses ``tcp:HOST:PORT`` or ``unix:PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

__all__ = ["main", "serve"]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _open(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    kind, _, rest = address.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def serve(listen: str, connect: str, started: asyncio.Event | None = None) -> None:
    """Accept on ``listen`` and copy bytes both ways to a new connection to ``connect``, until cancelled."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await _open(connect)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer))
        for writer in (client_writer, upstream_writer):
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    kind, _, rest = listen.partition(":")
    if kind == "unix":
        Path(rest).unlink(missing_ok=True)
        server = await asyncio.start_unix_server(handle, rest)
    else:
        host, _, port = rest.rpartition(":")
        server = await asyncio.start_server(handle, host, int(port))
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    """``relay LISTEN CONNECT``: serve until killed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not all(arg.startswith(("tcp:", "unix:")) for arg in args):
        print("usage: python -m tests.support.cluster.relay tcp:HOST:PORT|unix:PATH tcp:HOST:PORT|unix:PATH")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args[0], args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
