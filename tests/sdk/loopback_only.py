"""Imported first by each SDK driver: a name lookup or connection to anything but loopback is refused and
recorded, so a test can assert that nothing tried to leave this machine (the SDKs' telemetry included)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

ATTEMPTS: list[str] = []
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def is_loopback(host: object) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not is_loopback(host):
        ATTEMPTS.append(f"lookup {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"loopback only: {host}")
    return _getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        ATTEMPTS.append(f"connect {address[0]}")
        raise OSError(f"loopback only: {address[0]}")
    return _connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
