"""Webhook delivery: URL policy (no requests into our own network), HMAC signatures, one POST.

A webhook URL is checked when the rule is saved and again when each delivery opens its connection:
the host is resolved once, every address it resolves to must be public, and the request goes to
exactly that address — with the original Host header, and TLS SNI and certificate verification for
the original hostname — so DNS rebinding between check and use cannot reach 127.0.0.1, 10/8,
169.254.169.254, fc00::/7 and the like. Redirects are never followed (they count as a failure).

Signature: ``X-Liq-Signature: sha256=<hex>`` is HMAC-SHA256 with the rule's secret over the bytes
``f"{X-Liq-Timestamp}."`` followed by the raw request body; see docs/alerts.md for a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlsplit

import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]  # socket.getaddrinfo's shape

TIMEOUT_S = 5.0
MAX_URL_LENGTH = 2048
RESPONSE_EXCERPT_BYTES = 512
SIGNATURE_TOLERANCE_S = 300
RETRY_BASE_S = 30.0
RETRY_CAP_S = 3600.0
DISABLE_AFTER_FAILURES = 10
USER_AGENT = "liqplatform-webhooks/1"

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # is_global is True for it, yet it reaches any IPv4 address
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$"
)


class WebhookRefused(Exception):
    """The URL may not be called; ``reason`` says why, in words fit for the rule form."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookFlags(TypedDict):
    allow_http: bool
    allow_local: bool


def webhook_flags() -> WebhookFlags:
    """The deployment's policy: http only for development, loopback only for tests."""
    return {
        "allow_http": bool(getattr(settings, "LIQ_WEBHOOK_ALLOW_HTTP", False)),
        "allow_local": bool(getattr(settings, "LIQ_WEBHOOK_ALLOW_LOCAL", False)),
    }


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """Where a checked URL will be sent: ``address`` is the IP to connect to, ``host`` the name for
    the Host header, SNI and certificate checks."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _kind(ip: IPAddress) -> str:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    return "reserved"


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, NAT64, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_refusal(address: str, *, allow_local: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is a public address.

    ``allow_local`` lets loopback through (tests) and nothing else that is not public.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if allow_local and ip.is_loopback:
        return None
    # NAT64 addresses are judged by the IPv4 address they lead to (DNS64 hands them out for any
    # IPv4-only host); other IPv6 addresses must be public themselves and in what they embed.
    embedded = _embedded_ipv4(ip)
    for candidate in embedded if ip in _NAT64 else (ip, *embedded):
        if not candidate.is_global or candidate.is_multicast or candidate.is_reserved or candidate.is_unspecified:
            via = "" if candidate == ip else f" (it leads to {candidate})"
            return f"{ip} is a {_kind(candidate)} address{via}, not a public one"
    return None


def check_webhook_url(
    url: str, *, allow_http: bool, allow_local: bool, resolver: Resolver = socket.getaddrinfo
) -> ResolvedTarget:
    """Check a webhook URL and resolve its host; raise ``WebhookRefused`` when it may not be called.

    Every address the host resolves to must be public (one private record is enough to refuse:
    the connection could otherwise be steered to it).
    """
    if not isinstance(url, str) or not url:
        raise WebhookRefused("enter a URL")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise WebhookRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6] bracket, a host that NFKC-normalises into a separator
        raise WebhookRefused("this is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise WebhookRefused("the URL must start with https://")
    if scheme == "http" and not allow_http:
        raise WebhookRefused("webhooks must use https:// (http is allowed only on development servers)")
    if "@" in parts.netloc:
        raise WebhookRefused("the URL must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefused("the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused("the URL's port is not a number between 0 and 65535") from None
    host = _ascii_host(host)
    addresses = (host,) if _is_ip(host) else _resolve(host, port, resolver)
    if not addresses:
        raise WebhookRefused(f"{host} does not resolve")
    for address in addresses:
        refusal = address_refusal(address, allow_local=allow_local)
        if refusal:
            raise WebhookRefused(refusal if address == host else f"{host} resolves to {refusal}")
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, address=addresses[0], addresses=addresses)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int, resolver: Resolver) -> tuple[str, ...]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise WebhookRefused(f"{host} does not resolve") from None
    # A scope (fe80::1%eth0) is dropped: such addresses are refused anyway.
    return tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _ascii_host(host: str) -> str:
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise WebhookRefused("the URL's host name is not valid") from None
    if not _HOSTNAME.match(ascii_host):
        raise WebhookRefused("the URL's host name is not valid")
    return ascii_host


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``f"{timestamp}."`` + body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    body: bytes,
    secret: str,
    timestamp: str | int,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:
    """A receiver's check: the signature matches and the timestamp is within ``tolerance_s`` of now
    (so a captured request cannot be replayed later)."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(body, secret, stamp), signature)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The body exactly as signed and sent: compact JSON with sorted keys, no NaN."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt: ``status_code`` when a response came, ``error`` when it failed, ``elapsed`` in s."""

    status_code: int | None
    error: str | None
    elapsed: float
    response_excerpt: str = ""
    retry_after_s: float | None = None  # the server's Retry-After, when it sent one

    @property
    def ok(self) -> bool:
        return self.error is None


def send_webhook(
    url: str,
    payload: Mapping[str, Any],
    secret: str,
    *,
    allow_http: bool,
    allow_local: bool,
    timeout: float = TIMEOUT_S,
    resolver: Resolver = socket.getaddrinfo,
    verify_tls: ssl.SSLContext | bool = True,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST ``payload`` as signed JSON. Never raises for delivery problems: a refused URL, a network
    error, a timeout, a redirect or a non-2xx status is a result with ``error`` set."""
    body = encode_payload(payload)
    timestamp = int(clock())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Liq-Timestamp": str(timestamp),
        "X-Liq-Signature": sign(body, secret, timestamp),
    }
    return post_pinned(
        url,
        body,
        headers,
        allow_http=allow_http,
        allow_local=allow_local,
        timeout=timeout,
        resolver=resolver,
        verify_tls=verify_tls,
    )


def post_pinned(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_http: bool,
    allow_local: bool,
    timeout: float = TIMEOUT_S,
    resolver: Resolver = socket.getaddrinfo,
    verify_tls: ssl.SSLContext | bool = True,
) -> DeliveryResult:
    """POST ``body`` to ``url`` under the SSRF policy — every channel that calls out (webhooks,
    Telegram, Discord) goes through here. Never raises for delivery problems.

    ``timeout`` limits each network phase (connect, send, wait for the response) and the whole
    response read; the URL is checked and resolved here, and the connection goes to the address
    that check approved.
    """
    started = time.monotonic()
    try:
        target = check_webhook_url(url, allow_http=allow_http, allow_local=allow_local, resolver=resolver)
    except WebhookRefused as refused:
        return DeliveryResult(None, f"refused: {refused.reason}", time.monotonic() - started)
    sent_headers = {"Host": target.host_header, **headers}
    # Host and port from our own parse, so a parser difference cannot point the request elsewhere.
    pinned = httpx.URL(url).copy_with(host=target.address, port=target.port)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        # trust_env off: a proxy from the environment would make its own DNS lookup and connection.
        with (
            httpx.Client(verify=verify_tls, trust_env=False, follow_redirects=False, timeout=timeout) as client,
            client.stream("POST", pinned, content=body, headers=sent_headers, extensions=extensions) as response,
        ):
            excerpt = _read_excerpt(response, deadline=started + timeout)
    except _ResponseTooSlow:
        return DeliveryResult(None, f"timed out after {timeout:g} s", time.monotonic() - started)
    except httpx.TimeoutException:
        return DeliveryResult(None, f"timed out after {timeout:g} s", time.monotonic() - started)
    except httpx.HTTPError as exc:
        return DeliveryResult(None, f"connection failed: {exc or type(exc).__name__}", time.monotonic() - started)
    elapsed = time.monotonic() - started
    status = response.status_code
    retry_after = _retry_after(response.headers.get("retry-after"))
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return DeliveryResult(status, f"redirect refused (HTTP {status} to {location[:200]})", elapsed, excerpt)
    if not 200 <= status < 300:
        return DeliveryResult(status, f"HTTP {status}", elapsed, excerpt, retry_after)
    return DeliveryResult(status, None, elapsed, excerpt)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the delta form; an HTTP date is rare from APIs)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class _ResponseTooSlow(Exception):
    pass


def _read_excerpt(response: httpx.Response, *, deadline: float) -> str:
    """The start of the response body for the delivery log; the rest is drained until the deadline
    and not kept, so neither a large nor a trickling body holds the worker."""
    kept = b""
    for chunk in response.iter_raw():
        if len(kept) < RESPONSE_EXCERPT_BYTES:
            kept += chunk[: RESPONSE_EXCERPT_BYTES - len(kept)]
        if time.monotonic() > deadline:
            raise _ResponseTooSlow
        if len(kept) >= RESPONSE_EXCERPT_BYTES:
            break
    return kept.decode("utf-8", errors="replace")


def next_retry_delay(
    attempt: int, *, base_s: float = RETRY_BASE_S, cap_s: float = RETRY_CAP_S, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before retry number ``attempt`` (1 = the first retry): exponential, capped, with
    "equal jitter" — between half and all of ``min(cap, base * 2**(attempt - 1))`` — so retries of
    many failed deliveries spread out instead of arriving together."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap_s, base_s * 2 ** min(attempt - 1, 60))
    return ceiling / 2 + rand() * ceiling / 2


def should_disable(consecutive_failures: int) -> bool:
    """A webhook that failed this many deliveries in a row is switched off (the user is told)."""
    return consecutive_failures >= DISABLE_AFTER_FAILURES
