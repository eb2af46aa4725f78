"""Webhook delivery against a receiver on 127.0.0.1, signatures, the SSRF policy and retry policy."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.alerts.webhooks import (
    DISABLE_AFTER_FAILURES,
    WebhookRefused,
    check_webhook_url,
    encode_payload,
    next_retry_delay,
    send_webhook,
    should_disable,
    sign,
    verify,
    webhook_flags,
)
from tests.accounts.alerts.receiver import Receiver

SECRET = "whsec-alice-1"
PAYLOAD = {
    "rule_id": 7,
    "asset": "BTCUSDT",
    "condition": "price_crosses",
    "bar_ms": 1766788500000,
    "values": {"price": 90000.5},
}
PUBLIC = "93.184.215.14"  # a global address (never connected to: the tests stop before that)


def resolving_to(*addresses: str) -> Any:
    """A resolver standing in for DNS: every name resolves to ``addresses``."""

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def deliver(url: str, **kwargs: Any) -> Any:
    kwargs.setdefault("allow_http", True)
    kwargs.setdefault("allow_local", True)
    return send_webhook(url, PAYLOAD, SECRET, **kwargs)


# --- delivery ------------------------------------------------------------------------------------------


def test_the_receiver_gets_a_signed_json_post(receiver: Receiver) -> None:
    result = deliver(f"http://127.0.0.1:{receiver.port}/ok")
    assert result.ok and result.status_code == 200 and result.response_excerpt == "hi"
    [request] = receiver.requests
    assert json.loads(request.body) == PAYLOAD and request.body == encode_payload(PAYLOAD)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    timestamp, signature = request.headers["x-liq-timestamp"], request.headers["x-liq-signature"]
    assert signature.startswith("sha256=") and verify(request.body, SECRET, timestamp, signature)
    assert not verify(request.body, "another-secret", timestamp, signature)
    assert not verify(request.body + b" ", SECRET, timestamp, signature)
    assert not verify(request.body, SECRET, int(timestamp) + 1, signature)  # the timestamp is signed too


def test_a_named_host_is_called_at_the_address_checked_with_its_own_host_header(receiver: Receiver) -> None:
    result = deliver(f"http://hooks.example.test:{receiver.port}/ok", resolver=resolving_to("127.0.0.1"))
    assert result.ok
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{receiver.port}"


def test_a_server_error_is_a_failure(receiver: Receiver) -> None:
    result = deliver(f"http://127.0.0.1:{receiver.port}/fail")
    assert not result.ok and result.status_code == 500 and result.error == "HTTP 500"


def test_a_redirect_is_a_failure_and_not_followed(receiver: Receiver) -> None:
    result = deliver(f"http://127.0.0.1:{receiver.port}/redirect")
    assert not result.ok and result.status_code == 302 and "redirect refused" in (result.error or "")
    assert [r.path for r in receiver.requests] == ["/redirect"]


def test_the_timeout_is_honoured(receiver: Receiver) -> None:
    result = deliver(f"http://127.0.0.1:{receiver.port}/slow", timeout=0.5)
    assert not result.ok and result.status_code is None and "timed out after 0.5 s" in (result.error or "")
    assert result.elapsed < 1.5


def test_nothing_listening_is_a_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = deliver(f"http://127.0.0.1:{port}/ok")
    assert not result.ok and (result.error or "").startswith("connection failed")


def test_dns_rebinding_is_refused_when_the_connection_is_opened(receiver: Receiver) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return resolving_to(*next(answers))(host, port)

    url = f"https://hooks.example.test:{receiver.port}/ok"
    assert check_webhook_url(url, allow_http=False, allow_local=False, resolver=rebinding).address == PUBLIC
    result = send_webhook(url, PAYLOAD, SECRET, allow_http=False, allow_local=False, resolver=rebinding)
    assert not result.ok and result.status_code is None
    assert result.error == "refused: hooks.example.test resolves to 127.0.0.1 is a loopback address, not a public one"
    assert receiver.requests == []


# --- TLS to the pinned address, verified for the host name ---------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def trusting(cert: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cert)
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # a bare self-signed test certificate
    return context


def test_https_goes_to_the_pinned_address_with_sni_and_certificate_checked_for_the_name(
    certificate: tuple[str, str],
) -> None:
    cert, key = certificate
    with Receiver(certfile=cert, keyfile=key) as tls:
        url = f"https://hooks.example.test:{tls.port}/ok"
        result = deliver(url, allow_http=False, resolver=resolving_to("127.0.0.1"), verify_tls=trusting(cert))
        assert result.ok, result.error
        assert tls.sni == ["hooks.example.test"]
        assert tls.requests[0].headers["host"] == f"hooks.example.test:{tls.port}"
        # The same server under a name its certificate does not cover is refused by verification.
        other = f"https://other.example.test:{tls.port}/ok"
        result = deliver(other, allow_http=False, resolver=resolving_to("127.0.0.1"), verify_tls=trusting(cert))
        assert not result.ok and "connection failed" in (result.error or "")
        assert len(tls.requests) == 1


# --- the SSRF policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("fc00::1", "private"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1: is_global alone says it is public
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(WebhookRefused, match=f"is a {kind.replace('(', r'\(').replace(')', r'\)')} address"):
        check_webhook_url(f"https://{literal}/hook", allow_http=False, allow_local=False)
    with pytest.raises(WebhookRefused, match=f"hooks.example.test resolves to {address}"):
        check_webhook_url(
            "https://hooks.example.test/hook", allow_http=False, allow_local=False, resolver=resolving_to(address)
        )


def test_allow_local_lets_loopback_through_and_nothing_else() -> None:
    for loopback in ("127.0.0.1", "127.5.5.5", "::1"):
        target = check_webhook_url(
            "https://hooks.example.test/x", allow_http=False, allow_local=True, resolver=resolving_to(loopback)
        )
        assert target.address == loopback
    for private in ("10.0.0.1", "169.254.169.254", "100.64.0.1", "fc00::1", "0.0.0.0"):
        with pytest.raises(WebhookRefused):
            check_webhook_url(
                "https://hooks.example.test/x", allow_http=False, allow_local=True, resolver=resolving_to(private)
            )


def test_one_private_record_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(WebhookRefused, match=r"resolves to 10\.0\.0\.1"):
        check_webhook_url(
            "https://hooks.example.test/",
            allow_http=False,
            allow_local=False,
            resolver=resolving_to(PUBLIC, "10.0.0.1"),
        )


def test_nat64_of_a_public_address_passes() -> None:
    assert (
        check_webhook_url("https://[64:ff9b::808:808]/", allow_http=False, allow_local=False).address
        == "64:ff9b::808:808"
    )


def test_public_addresses_pass_and_keep_the_name() -> None:
    target = check_webhook_url(
        "https://Hooks.Example.test:8443/a?b=1", allow_http=False, allow_local=False, resolver=resolving_to(PUBLIC)
    )
    assert (target.host, target.port, target.address, target.host_header) == (
        "hooks.example.test",
        8443,
        PUBLIC,
        "hooks.example.test:8443",
    )


def test_numeric_spellings_of_loopback_are_caught_by_resolution() -> None:
    for host in ("2130706433", "0x7f.1", "localhost"):
        with pytest.raises(WebhookRefused):
            check_webhook_url(f"https://{host}/hook", allow_http=False, allow_local=False)


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://hooks.example.test/", "must use https"),
        ("ftp://hooks.example.test/", "must start with https"),
        ("file:///etc/passwd", "must start with https"),
        ("gopher://hooks.example.test/", "must start with https"),
        ("javascript:alert(1)", "must start with https"),
        ("https://user:pass@hooks.example.test/", "user name or password"),
        ("https://user@hooks.example.test/", "user name or password"),
        ("https:///path-only", "has no host"),
        ("https://hooks.example.test:99999/", "port"),
        ("https://hooks example.test/", "spaces or control characters"),
        ("https://hooks.exa$mple.test/", "host name is not valid"),
        ("", "enter a URL"),
        ("https://[::1/hook", "not a valid URL"),  # an unclosed bracket
        ("https://hooks\uff03example.test/", "not a valid URL"),  # a fullwidth # that NFKC makes a separator
    ],
)
def test_odd_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(WebhookRefused, match=message):
        check_webhook_url(url, allow_http=False, allow_local=False, resolver=resolving_to(PUBLIC))


def test_http_is_accepted_only_when_allowed() -> None:
    assert (
        check_webhook_url(
            "http://hooks.example.test/", allow_http=True, allow_local=False, resolver=resolving_to(PUBLIC)
        ).port
        == 80
    )


def test_unresolvable_hosts_are_refused() -> None:
    def failing(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookRefused, match="does not resolve"):
        check_webhook_url("https://nowhere.example.test/", allow_http=False, allow_local=False, resolver=failing)


def test_flags_come_from_settings() -> None:
    # The test run allows both (pyproject's pytest env); production defaults are off.
    assert settings.LIQ_WEBHOOK_ALLOW_LOCAL and settings.LIQ_WEBHOOK_ALLOW_HTTP
    assert webhook_flags() == {"allow_http": True, "allow_local": True}


# --- signatures and retry policy -----------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = encode_payload(PAYLOAD)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET, 1700000000) == f"sha256={expected}"
    assert verify(body, SECRET, "1700000000", f"sha256={expected}", now=1700000000 + 300)
    assert not verify(body, SECRET, "1700000000", f"sha256={expected}", now=1700000000 + 301)  # too old: a replay
    assert not verify(body, SECRET, "soon", f"sha256={expected}", now=1700000000)


def test_retry_delays_grow_exponentially_to_a_cap_with_jitter() -> None:
    lows = [next_retry_delay(n, rand=lambda: 0.0) for n in range(1, 12)]
    highs = [next_retry_delay(n, rand=lambda: 0.999999) for n in range(1, 12)]
    assert lows[0] == 15.0 and highs[0] == pytest.approx(30.0, rel=1e-5)
    assert all(b == 2 * a for a, b in itertools.pairwise(lows[:6]))
    assert max(highs) <= 3600.0 and highs[-1] == pytest.approx(3600.0, rel=1e-5) and lows[-1] == 1800.0
    assert next_retry_delay(10_000) <= 3600.0  # no overflow for absurd attempt numbers
    with pytest.raises(ValueError):
        next_retry_delay(0)


def test_a_webhook_is_disabled_after_ten_consecutive_failures() -> None:
    assert DISABLE_AFTER_FAILURES == 10
    assert not should_disable(9) and should_disable(10) and should_disable(11)


def test_payload_with_nan_is_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        encode_payload({"value": float("nan")})


def test_path_and_query_are_kept_when_pinning_the_address(receiver: Receiver) -> None:
    assert deliver(f"http://localhost:{receiver.port}/ok?x=1#fragment", resolver=resolving_to("127.0.0.1")).ok
    assert receiver.requests[0].path == "/ok?x=1"
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


def test_the_receiver_snippet_in_the_docs_verifies_a_delivery(receiver: Receiver) -> None:
    docs = (Path(settings.BASE_DIR) / "docs" / "alerts.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the documented code, as a reader would paste it
    assert deliver(f"http://127.0.0.1:{receiver.port}/ok").ok
    [request] = receiver.requests
    args = (request.body, SECRET, request.headers["x-liq-timestamp"], request.headers["x-liq-signature"])
    assert namespace["verify"](*args)
    assert not namespace["verify"](request.body, "wrong-secret", *args[2:])
