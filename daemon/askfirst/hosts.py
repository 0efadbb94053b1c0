"""Hosts and listen addresses in the config: is `metrics.listen` a usable "host:port", and
is a server on loopback (only there may a password travel in clear text)."""

from __future__ import annotations

import ipaddress
import re


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6 address]:port"; ValueError says what is wrong."""
    host, sep, port = listen.rpartition(":")
    example = "e.g. 127.0.0.1:9464 or [::1]:9464"
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{listen!r}: expected host:port with a port from 1 to 65535, {example}")
    if host.startswith("[") and host.endswith("]"):
        if not _is_address(host[1:-1], 6):
            raise ValueError(f"{listen!r}: {host[1:-1]!r} is not an IPv6 address, {example}")
        return host[1:-1], int(port)
    if ":" in host:
        raise ValueError(f"{listen!r}: an IPv6 address goes in brackets: [{host}]:{port}")
    looks_numeric = host.replace(".", "").isdigit()
    name = re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", host) and not looks_numeric
    if host and not (_is_address(host, 4) or name):
        raise ValueError(f"{listen!r}: {host!r} is not an address or host name, {example}")
    return host, int(port)


def _is_address(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """A server on this machine: by the names it always has, or by a loopback address."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
