"""A managed delay proxy: the database (or PgBouncer) at a network distance, on one machine.

`tc netem` would add the delay in the kernel, but this kernel has no netem and it needs privileges;
the proxy (delay_proxy.c beside this file) works everywhere. Each chunk waits half the RTT in each
direction and a new connection's bytes wait one RTT first (the TCP handshake). It is compiled with
the system's C compiler on first use, into a cache folder keyed by the source's hash, so an edited
source is rebuilt and an unchanged one is not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

from bench.errors import BenchError
from bench.services.managed import ManagedServer
from bench.urls import free_loopback_port

SOURCE = Path(__file__).with_name("delay_proxy.c")
PACKAGE = "gcc (apt-get install gcc)"


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bench"


def delay_proxy_binary() -> str:
    """The compiled proxy, built now if this source has not been built yet."""
    source = SOURCE.read_bytes()
    binary = _cache_dir() / f"delay_proxy-{hashlib.sha256(source).hexdigest()[:12]}"
    if os.access(binary, os.X_OK):
        return str(binary)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise BenchError(f"a C compiler is needed to build bench's delay proxy (rtt_ms); install {PACKAGE}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}.tmp")
    built = subprocess.run([compiler, "-O2", "-o", str(partial), str(SOURCE)], capture_output=True, text=True)
    if built.returncode != 0:
        raise BenchError(f"building the delay proxy failed: {(built.stderr.strip().splitlines() or ['?'])[-1]}")
    os.replace(partial, binary)  # atomic: two runs building at once both end with a whole binary
    return str(binary)


class ManagedDelayProxy(ManagedServer):
    """Context manager: a proxy on a loopback port that forwards to `upstream` with `rtt_ms` of delay."""

    name = "proxy"
    title = "delay proxy"
    stop_grace_s = 5.0

    def __init__(
        self,
        work_dir: Path,
        upstream_host: str,
        upstream_port: int,
        rtt_ms: float,
        port: int | None = None,
        cpus: str | None = None,
    ) -> None:
        super().__init__(work_dir, cpus)
        self.port = port or free_loopback_port()
        self.upstream = (upstream_host, upstream_port)
        self.rtt_ms = rtt_ms

    def _start(self) -> None:
        argv = [
            delay_proxy_binary(),
            "127.0.0.1",
            str(self.port),
            self.upstream[0],
            str(self.upstream[1]),
            str(round(self.rtt_ms * 1000)),
        ]
        self._launch(
            argv,
            self._listening,
            timeout_s=10,
            details=f"port={self.port} upstream={self.upstream[0]}:{self.upstream[1]} rtt_ms={self.rtt_ms:g}",
        )

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False
