"""Self-signed certificates for the managed servers' TLS: made for one run, deleted with it."""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.errors import BenchError


def self_signed_certificate(directory: str, setting: str) -> tuple[str, str]:
    """A certificate and its key (readable by this user only) in `directory`; clients encrypt without
    verifying it. `setting` names what asked for it, for the message when openssl is missing."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise BenchError(f"{setting} needs the openssl command; install openssl (apt-get install openssl)")
    cert, key = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
    done = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"openssl could not make a certificate: {done.stderr.strip().splitlines()[-1]}")
    os.chmod(key, 0o600)  # PostgreSQL refuses a key others can read
    return cert, key
