"""Which hosts the crawler may connect to: only globally routable addresses (no SSRF into loopback, private
networks, link-local cloud metadata, ...), whatever spelling of an IP address a URL uses.

One pure question, ``host_verdict(host, proxied)``, answered from the host text alone (no lookup):
- an IP literal in any spelling that a browser's URL parser (WHATWG "IPv4 parser": decimal ``2130706433``,
  hex ``0x7f.0.0.1``, octal ``0177.0.0.1``, short ``127.1``) or the C library's ``inet_aton`` accepts, or an
  IPv6 literal (``[::1]``, zone ids, IPv4-mapped / -compatible / 6to4 / NAT64 forms, judged by the IPv4
  address they carry) is allowed only if it is global;
- ``localhost``-style and single-label names never name a public site;
- any other name is allowed here; without a proxy its DNS answer is checked by ``is_global_ip`` (the
  resolver in ``crawler.netresolver``), with a proxy the proxy resolves it and is trusted.
"""

from __future__ import annotations

import ipaddress
import re

BLOCKED = "blocked_private_address"  # the manifest reason for a refused request

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan", ".intranet")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "broadcasthost"})
_HOST_CHARS = re.compile(r"[a-z0-9_.\-]+")  # what a resolvable (punycoded, lower-cased) DNS name consists of
# IPv6 ranges that carry an IPv4 address: connecting there reaches (or tunnels to) that IPv4 address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` spells under the WHATWG URL standard's IPv4 parser (which also covers what
    glibc's ``inet_aton`` accepts: 1 to 4 dot-separated parts, each decimal, ``0x`` hex or ``0`` octal, the
    last filling the remaining bytes); None when it is not an IPv4 spelling."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()  # a trailing dot, as in "127.0.0.1."
    if not parts or len(parts) > 4 or _number(parts[-1]) is None:
        return None
    numbers = [_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    text = part.lower()
    try:
        if text.startswith("0x"):
            return int(text[2:] or "0", 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def parse_ip(host: str) -> IPAddress | None:
    """The IP address a URL host names (IPv4 in any spelling, IPv6 with or without brackets), else None."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4(text)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo client), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_global_ip(ip: IPAddress | str) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, 0/8, multicast, reserved,
    documentation, unique-local; an IPv6 address carrying an IPv4 one is judged by both."""
    if isinstance(ip, str):
        parsed = parse_ip(ip)
        if parsed is None:
            return False
        ip = parsed
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:  # compatible and Teredo forms are never a site's address
            return (ip.ipv4_mapped is not None or ip.sixtofour is not None or ip in _NAT64) and is_global_ip(inner)
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def is_local_name(host: str) -> bool:
    """A name that never names a public site: localhost and kin, mDNS/intranet suffixes, a single label."""
    name = host.strip().lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or "." not in name


def host_verdict(host: str, proxied: bool = False) -> str | None:
    """None when the crawler may ask for ``host``; else why not (``BLOCKED``). ``proxied``: a forward proxy
    resolves and connects, so a name is trusted to it, but IP literals and local names are still refused.
    Without a proxy, names pass here and their DNS answers are checked with ``is_global_ip``."""
    ip = parse_ip(host)
    if ip is not None:
        return None if is_global_ip(ip) else BLOCKED
    name = host.strip().lower().rstrip(".")
    if not name or not _HOST_CHARS.fullmatch(name) or is_local_name(name):
        return BLOCKED
    if _number(name.split(".")[-1]) is not None:
        return BLOCKED  # ends in a number but is no valid address ("256.1.1.1", "1.2.3.4.5"): browsers refuse it
    return None
