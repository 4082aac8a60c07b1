"""The address check: every spelling of a non-global address is refused, public ones pass."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from common.netguard import BLOCKED, host_verdict, is_global_ip, parse_ip

LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0x7F.1", "0177.0.0.1",
    "0177.1", "017700000001", "127.0.0.1.", "0x7f.0x0.0x0.0x1", "[::1]", "::1", "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[2002:7f00:1::1]", "[64:ff9b::7f00:1]",
]
NON_GLOBAL = [
    "10.0.0.5", "012.0.0.5", "167772165", "172.16.0.1", "192.168.1.1", "0xc0a80101", "169.254.169.254",
    "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "100.64.0.1", "0.0.0.0", "0", "0.1.2.3", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "[fe80::1]", "[fe80::1%25eth0]",
    "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[::]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",
    "[2001:db8::1]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
]
LOCAL_NAMES = ["localhost", "LOCALHOST", "localhost.", "foo.localhost", "printer.local", "db.internal",
               "metadata.google.internal", "router.home.arpa", "intranet", "ip6-localhost", "box.localdomain"]
INVALID = ["256.1.1.1", "1.2.3.4.5", "example.0x1", "bad host.com", "ex%41mple.com", ""]
PUBLIC = ["8.8.8.8", "134744072", "0x8.0x8.0x8.0x8", "010.010.010.010", "[2606:4700:4700::1111]",
          "[::ffff:8.8.8.8]", "example.com", "www.example.com", "xn--bcher-kva.de", "a-b.co.uk", "1password.com",
          "cdn.brand.test", "0x.example.com"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_loopback(host):
    ip = parse_ip(host)
    assert ip is not None and not is_global_ip(ip)
    assert host_verdict(host) == BLOCKED and host_verdict(host, proxied=True) == BLOCKED


@pytest.mark.parametrize("host", [h for h in LOOPBACK_SPELLINGS if ":" not in h])
def test_the_c_library_reads_the_same_ipv4_spellings(host):
    # What the resolver would connect to: inet_aton is what getaddrinfo/gethostbyname use for numeric hosts.
    assert ipaddress.IPv4Address(socket.inet_aton(host.rstrip("."))) == parse_ip(host)


@pytest.mark.parametrize("host", NON_GLOBAL + LOCAL_NAMES + INVALID)
def test_non_global_and_local_hosts_are_refused(host):
    assert host_verdict(host) == BLOCKED
    assert host_verdict(host, proxied=True) == BLOCKED


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_pass(host):
    assert host_verdict(host) is None
    assert host_verdict(host, proxied=True) is None


def test_decimal_hex_and_octal_mean_the_same_address():
    assert parse_ip("2852039166") == parse_ip("0xa9.0xfe.0xa9.0xfe") == parse_ip("0251.0376.0251.0376") == \
        ipaddress.IPv4Address("169.254.169.254")


def test_resolved_answers_are_judged_as_addresses():
    assert not is_global_ip("127.0.0.1") and not is_global_ip("10.1.2.3") and not is_global_ip("not an ip")
    assert is_global_ip("93.184.216.34") and is_global_ip("2606:2800:220:1::")
