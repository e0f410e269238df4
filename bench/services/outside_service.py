"""The outside service a task waits on (an email provider, a payment API): a small HTTP server that
answers every request after `delay_ms`, started and stopped by bench like its other servers.

Run as `python -m bench.services.outside_service HOST PORT DELAY_MS`. One asyncio loop serves every
connection, keep-alive included, so thousands of tasks can wait on it at once without it being the
limit; its CPU is metered as the role "service".
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from bench.services.managed import ManagedServer
from bench.urls import free_loopback_port

BODY = b'{"sent": true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"Connection: keep-alive\r\n\r\n%s" % (len(BODY), BODY)
)
BACKLOG = 4096


class ManagedOutsideService(ManagedServer):
    """Context manager: the outside service running on entry, stopped on exit."""

    name = "service"
    title = "outside service"

    def __init__(self, work_dir: Path, delay_ms: float, cpus: str | None = None, listen: str | None = None) -> None:
        super().__init__(work_dir, cpus)
        self.port = free_loopback_port()
        self.delay_ms = delay_ms
        self.listen = listen
        """An address to listen on instead of loopback, for workers on other hosts."""

    @property
    def url(self) -> str:
        return f"http://{self.listen or '127.0.0.1'}:{self.port}/send"

    def _start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "bench.services.outside_service",
            self.listen or "127.0.0.1",
            str(self.port),
            f"{self.delay_ms:g}",
        ]
        self._launch(argv, self._accepts, timeout_s=15, details=f"port={self.port} delay_ms={self.delay_ms:g}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.listen or "127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay_s)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(host: str, port: int, delay_ms: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, delay_ms / 1000), host, port, backlog=BACKLOG, reuse_address=True
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
