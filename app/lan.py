"""This computer's address on the school network, for join links a phone can open.

A teacher who opens the page at http://127.0.0.1:8000 would otherwise project a link and a QR
code that lead every phone to itself. When the server listens on every interface, the link can
name the address students' phones reach instead: the one the machine's default route leaves
from (asked of the kernel with a UDP socket that is connected but never sends, so it needs no
internet), else any non-loopback address of the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for localhost, 127.x.x.x and ::1 (with or without brackets)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lan_address() -> str | None:
    """The IPv4 address other machines on the network reach this one at, or None (no network)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like any address, nothing is sent
        address = probe.getsockname()[0]
    except OSError:
        address = None
    finally:
        probe.close()
    if address and not is_loopback(address) and address != "0.0.0.0":
        return address
    try:
        names = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return None
    return next((a for a in names if not is_loopback(a)), None)


def reachable_host(host_header: str, listen_host: str) -> str:
    """The host:port for a join link: the browser's own, unless that is this computer's
    loopback while the server listens on every interface — then its network address."""
    parts = urlsplit(f"//{host_header}")
    if listen_host not in WILDCARD_HOSTS or not is_loopback(parts.hostname or ""):
        return host_header
    address = lan_address()
    if address is None:
        return host_header
    return f"{address}:{parts.port}" if parts.port else address
