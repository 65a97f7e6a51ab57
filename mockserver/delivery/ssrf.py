"""Where a callback may go: the vendor's rules (HTTPS only, no private or loopback addresses, at
most 2048 characters), checked at submit and again before every delivery attempt.

Pure functions. The only I/O is name resolution, done by a `Resolver` passed in, so tests never
ask real DNS about anything. URLs are parsed with httpx, the same parser that later sends the
request: a checker that reads a URL differently from the sender is how SSRF filters get bypassed.
Hosts are normalised the way `inet_aton` reads them (`2130706433`, `0x7f000001`, `0177.0.0.1`
and `127.1` are all 127.0.0.1) before any address is judged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where it is used, so that `serve` starts without it
    import httpx

MAX_URL_LENGTH = 2048  # the vendor's limit, in characters
#: How long the default resolver waits for the system's resolver before giving up.
DNS_TIMEOUT = 2.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: `resolver(host, port)` -> the addresses `host` resolves to; raises OSError if it does not.
Resolver = Callable[[str, int], Sequence[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


class PolicyViolation(ValueError):
    """A callback URL the policy refuses; `reason` completes "callback_url: ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- hosts --------------------------------------------------------------------------------------


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` read as `inet_aton` reads it: 1 to 4 parts, each decimal, 0x-hex or 0-octal, the
    last filling the remaining bytes. None if it is not an IPv4 address in any such spelling."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if base == 10 and not digits:
            return None
        try:
            values.append(int(digits, base) if digits else 0)
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, value in enumerate(head):
        number += value << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """A URL host (as httpx gives it) as (canonical text, address if it is an IP literal).

    Raises PolicyViolation for a host that is neither a valid name nor an address. A host whose
    last label is a number must be an IPv4 address: `1.2.3.999` is refused, not looked up.
    """
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if not host:
        raise PolicyViolation("has no host")
    if ":" in host:  # httpx gives an IPv6 literal without its brackets
        try:
            v6 = ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            raise PolicyViolation(f"host {host} is not a valid IPv6 address") from None
        if v6.scope_id:
            raise PolicyViolation(f"host {host} is a scoped (interface-local) IPv6 address")
        return str(v6), v6
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        v4 = parse_ipv4(host)
        if v4 is None:
            raise PolicyViolation(f"host {host} is not a valid IPv4 address")
        return str(v4), v4
    if not _HOST_NAME.fullmatch(host):
        raise PolicyViolation(f"host {host} is not a valid host name")
    return host, None


def _article(noun: str) -> str:
    return (
        f"an {noun}"
        if noun.startswith(("IPv4", "unspecified", "a", "e", "i", "o"))
        else f"a {noun}"
    )


def address_problem(ip: IPAddress) -> str | None:
    """Why a callback may not go to `ip` ("a loopback address"...), or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        for kind, embedded in (("IPv4-mapped", ip.ipv4_mapped), ("6to4", ip.sixtofour)):
            inner = address_problem(embedded) if embedded is not None else None
            if inner is not None:
                return _article(f"{kind} {inner.split(' ', 1)[1]}")
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL, "unique-local address"),
        (ip.is_private, "private address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "non-public address"),
    ]
    for matched, problem in checks:
        if matched:
            return _article(problem)
    return None


# -- the policy ---------------------------------------------------------------------------------


AllowEntry = tuple[str, int | None]


def parse_allow_entry(entry: str) -> AllowEntry:
    """`HOST[:PORT]` (IPv6 as `[::1]:8443`) as a normalised (host, port or None for any port)."""
    text = entry.strip()
    if ":" in text and not text.startswith("[") and text.count(":") > 1:
        text = f"[{text}]"  # a bare IPv6 address
    import httpx

    try:
        url = httpx.URL(f"allow://{text}")  # a scheme with no default port to drop
    except httpx.InvalidURL as exc:
        raise ValueError(f"not HOST[:PORT]: {entry!r} ({exc})") from None
    if url.userinfo or url.raw_path not in (b"", b"/") or url.query or url.fragment:
        raise ValueError(f"not HOST[:PORT]: {entry!r}")
    try:
        host, _ = normalise_host(url.host)
    except PolicyViolation as exc:
        raise ValueError(f"not HOST[:PORT]: {entry!r} ({exc.reason})") from None
    port = url.port
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"not HOST[:PORT]: {entry!r} (port out of range 1-65535)")
    return host, port


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """Strict by default; `allow` and `allow_http` open exactly what they name."""

    #: Destinations exempt from the address checks: (host, port), port None for any.
    allow: frozenset[AllowEntry] = frozenset()
    #: Accept http:// callback URLs as well as https://.
    allow_http: bool = False

    @classmethod
    def from_entries(cls, entries: Iterable[str], *, allow_http: bool = False) -> CallbackPolicy:
        return cls(frozenset(parse_allow_entry(e) for e in entries), allow_http)

    def allows(self, host: str, port: int) -> bool:
        return (host, port) in self.allow or (host, None) in self.allow

    def describe(self) -> str:
        """For the startup log: what is open beyond the strict default."""
        if not self.allow and not self.allow_http:
            return "strict (https only, public addresses only)"
        named = sorted(
            (f"[{host}]" if ":" in host else host) + ("" if port is None else f":{port}")
            for host, port in self.allow
        )
        parts = [f"allowing {', '.join(named)}"] if named else []
        if self.allow_http:
            parts.append("http allowed")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Destination:
    """A callback URL that passed the checks that need no resolution."""

    url: httpx.URL
    host: str  # normalised: a lowercase name, or an address in canonical form
    port: int
    address: IPAddress | None  # set when the host is an IP literal
    allowed: bool  # named by the policy's allow list: no address checks


def check_url(url: str, policy: CallbackPolicy) -> Destination:
    """The checks that need no I/O: length, scheme, credentials, host syntax, IP literals."""
    if len(url) > MAX_URL_LENGTH:
        raise PolicyViolation(f"must be at most {MAX_URL_LENGTH} characters, got {len(url)}")
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise PolicyViolation(f"is not a valid URL ({exc})") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise PolicyViolation("must use " + " or ".join(schemes))
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if parsed.userinfo or "@" in authority:
        raise PolicyViolation("must not contain credentials (user:password@)")
    host, address = normalise_host(parsed.host)
    port = _DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise PolicyViolation(f"has an invalid port {port}")
    allowed = policy.allows(host, port)
    if (host in _LOOPBACK_NAMES or host.endswith(".localhost")) and not allowed:
        raise PolicyViolation(f"host {host} is a loopback name")
    if address is not None and not allowed:
        problem = address_problem(address)
        if problem is not None:
            raise PolicyViolation(f"host {host} is {problem}")
    return Destination(parsed, host, port, address, allowed)


def check_addresses(destination: Destination, addresses: Iterable[str]) -> list[IPAddress]:
    """The addresses a name resolved to, if every one of them is allowed (one bad one refuses
    the lot: the sender might pick it)."""
    checked: list[IPAddress] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise PolicyViolation(
                f"host {destination.host} resolves to {text!r}, not an address"
            ) from None
        problem = address_problem(ip)
        if problem is not None:
            raise PolicyViolation(f"host {destination.host} resolves to {ip}, {problem}")
        checked.append(ip)
    if not checked:
        raise PolicyViolation(f"host {destination.host} resolves to no address")
    return checked


def check_at_submit(url: str, policy: CallbackPolicy, resolver: Resolver) -> Destination:
    """Every check, resolving a host name once. A name that does not resolve is accepted: the
    vendor does not say, and refusing it would make the simulator unusable offline; delivery
    resolves again and fails the attempt if it still does not resolve."""
    destination = check_url(url, policy)
    if destination.allowed or destination.address is not None:
        return destination
    try:
        addresses = resolver(destination.host, destination.port)
    except OSError:
        return destination
    check_addresses(destination, addresses)
    return destination


def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for `host`, given up after DNS_TIMEOUT seconds (TimeoutError).

    Runs in a daemon thread so a resolver that hangs never holds the caller longer than that.
    """
    answer: list[list[str]] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            failure.append(exc)
        else:
            answer.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))

    worker = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    worker.start()
    worker.join(DNS_TIMEOUT)
    if failure:
        raise failure[0]
    if not answer:
        raise TimeoutError(f"no answer for {host} within {DNS_TIMEOUT:g} s")
    return answer[0]


def offline_resolver(host: str, port: int) -> list[str]:
    """Resolves nothing, asks nobody: for tests and offline runs. Names are then accepted at
    submit and every delivery attempt to one fails ("does not resolve"): no traffic at all."""
    raise OSError(f"{host}: not resolved (offline resolver)")


async def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: CallbackPolicy,
    resolver: Resolver,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Request:
    """A request to `url` after the policy's checks; a name is resolved here and the request
    pinned to the address that was checked, so DNS cannot answer differently in between.
    PolicyViolation if the policy refuses it."""
    destination = check_url(url, policy)
    target = destination.url
    headers = dict(headers or {})
    extensions: dict[str, Any] = {}
    if not destination.allowed and destination.address is None:
        try:
            addresses = await asyncio.to_thread(resolver, destination.host, destination.port)
        except OSError as exc:
            raise PolicyViolation(
                f"host {destination.host} does not resolve ({exc or type(exc).__name__})"
            ) from None
        pinned = check_addresses(destination, addresses)[0]
        target = target.copy_with(host=str(pinned))
        headers["host"] = destination.url.netloc.decode("ascii")
        if target.scheme == "https":
            extensions["sni_hostname"] = destination.host
    return client.build_request(
        method, target, content=content, headers=headers, extensions=extensions
    )
