"""Offline by construction, enforced: any connect to a non-loopback address in the test process fails.

An audit hook (it cannot be removed, so it is installed once) refuses the connect with an error
and records it; the session fails at the end if anything tried, even if a library swallowed
the error.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

connects: list[Any] = []  # every INET connect seen, loopback included
refused: list[Any] = []


def free_port() -> int:
    """A loopback port nothing listens on (free when asked; the caller takes it right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already be a lookup outside


def _guard(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    connects.append(address)
    if not is_loopback(str(address[0])):
        refused.append(address)
        raise ConnectionRefusedError(f"localshang tests must stay offline: connect to {address}")


def install() -> None:
    sys.addaudithook(_guard)
