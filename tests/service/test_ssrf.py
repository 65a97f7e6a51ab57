"""Where callbacks may go: https only, public addresses only, no credentials, 2048 characters at
most; checked at submit and again at delivery. Names resolve through a fake resolver: no test
asks real DNS anything, and none connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator
from mockserver.cli.main import build_parser, main, settings_from
from mockserver.delivery.ssrf import (
    MAX_URL_LENGTH,
    CallbackPolicy,
    PolicyViolation,
    address_problem,
    check_at_submit,
    check_url,
    parse_allow_entry,
    parse_ipv4,
)
from mockserver.domain.timing import FAST

from ..bodies import create_body
from ..callback_fixtures import (
    ENDS_AFTER,
    START,
    FakeResolver,
    advance,
    api_for,
    create,
    deliveries,
    make_tls,
)

pytestmark = pytest.mark.anyio

PUBLIC = "93.184.215.14"
RESOLVES = {
    "public.example": [PUBLIC],
    "loopback.example": ["127.0.0.1"],
    "private.example": ["10.1.2.3"],
    "mixed.example": [PUBLIC, "192.168.0.10"],
    "v6-unique-local.example": ["fd00::1"],
    "metadata.example": ["169.254.169.254"],
}
STRICT = CallbackPolicy()


# -- host spellings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("10.0x10.0377.1", "10.16.255.1"),
        ("3232235777", "192.168.1.1"),
    ],
)
def test_ipv4_is_read_the_way_inet_aton_reads_it(host: str, address: str) -> None:
    assert parse_ipv4(host) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize(
    "host",
    ["256.0.0.1", "1.2.3.4.5", "1.2.3.256", "4294967296", "08.0.0.1", "0x1g", "", "1..2", "a.b"],
)
def test_what_inet_aton_refuses_is_not_an_ipv4_address(host: str) -> None:
    assert parse_ipv4(host) is None


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("0.0.0.0", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("100.64.0.1", "a non-public address"),
        ("240.0.0.1", "a private address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a unique-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped loopback address"),
        ("::ffff:10.0.0.1", "an IPv4-mapped private address"),
        ("2002:7f00:1::", "a 6to4 loopback address"),
        ("::127.0.0.1", "a reserved address"),
        (PUBLIC, None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_each_kind_of_address_is_named(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


# -- the URL checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://public.example/", "must use https"),
        ("ftp://public.example/", "must use https"),
        ("https://user:secret@public.example/", "must not contain credentials"),
        ("https://token@public.example/", "must not contain credentials"),
        ("https://@public.example/", "must not contain credentials"),
        ("https://public.example\\@127.0.0.1/", "must not contain credentials"),
        ("https://public.example/" + "a" * MAX_URL_LENGTH, "must be at most 2048 characters"),
        ("https:///hook", "has no host"),
        ("https://public.example:0/", "has an invalid port 0"),
        ("https://public.example:70000/", "has an invalid port 70000"),
        ("https://localhost/", "host localhost is a loopback name"),
        ("https://LocalHost./", "host localhost is a loopback name"),
        ("https://hooks.localhost/", "host hooks.localhost is a loopback name"),
        ("https://0x7f000001/", "host 127.0.0.1 is a loopback address"),
        ("https://1.2.3.4.999/", "host 1.2.3.4.999 is not a valid IPv4 address"),
        ("https://%31%32%37.0.0.1/", "not a valid IPv4 address"),
        ("https://exa%20mple.com/", "is not a valid host name"),
        ("https://[fe80::1%25eth0]/", "scoped (interface-local) IPv6 address"),
        ("https://0177.0.0.1/", "is not a valid URL"),
    ],
)
def test_a_url_is_refused_for_a_stated_reason(url: str, reason: str) -> None:
    with pytest.raises(PolicyViolation) as refused:
        check_url(url, STRICT)
    assert reason in refused.value.reason


def test_the_length_limit_is_inclusive() -> None:
    url = "https://public.example/"
    url += "a" * (MAX_URL_LENGTH - len(url))
    assert check_url(url, STRICT).host == "public.example"


def test_a_public_address_and_a_name_pass_the_static_checks() -> None:
    by_ip = check_url(f"https://{PUBLIC}:8443/cb", STRICT)
    by_name = check_url("https://Hooks.Example./cb", STRICT)
    assert (by_ip.host, by_ip.port, str(by_ip.address)) == (PUBLIC, 8443, PUBLIC)
    assert (by_name.host, by_name.port, by_name.address) == ("hooks.example", 443, None)


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("public.example", None),
        ("loopback.example", "resolves to 127.0.0.1, a loopback address"),
        ("mixed.example", "resolves to 192.168.0.10, a private address"),
        ("v6-unique-local.example", "resolves to fd00::1, a unique-local address"),
        ("metadata.example", "resolves to 169.254.169.254, a link-local address"),
    ],
)
def test_at_submit_a_name_is_judged_by_every_address_it_resolves_to(
    host: str, refused: str | None
) -> None:
    resolver = FakeResolver(RESOLVES)
    if refused is None:
        check_at_submit(f"https://{host}/", STRICT, resolver)
    else:
        with pytest.raises(PolicyViolation, match=refused):
            check_at_submit(f"https://{host}/", STRICT, resolver)
    assert resolver.asked == [host]


def test_at_submit_a_name_that_does_not_resolve_is_accepted() -> None:
    resolver = FakeResolver()
    destination = check_at_submit("https://offline.example/", STRICT, resolver)
    assert (destination.host, resolver.asked) == ("offline.example", ["offline.example"])


def test_addresses_and_allowed_hosts_are_never_resolved() -> None:
    resolver = FakeResolver()
    policy = CallbackPolicy.from_entries(["hooks.internal"])
    check_at_submit(f"https://{PUBLIC}/", STRICT, resolver)
    check_at_submit("https://hooks.internal/", policy, resolver)
    assert resolver.asked == []


# -- the allow list opens exactly what it names --------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("2130706433:80", ("127.0.0.1", 80)),
        ("public.example:443", ("public.example", 443)),  # a default port is still a port
        ("LocalHost", ("localhost", None)),
        ("[::1]:8443", ("::1", 8443)),
        ("::1", ("::1", None)),
        ("hooks.test.:9000", ("hooks.test", 9000)),
    ],
)
def test_allow_entries_are_normalised_like_urls(entry: str, parsed: tuple[str, Any]) -> None:
    assert parse_allow_entry(entry) == parsed


@pytest.mark.parametrize(
    "entry", ["user@host", "host/path", "host:99999", "", "exa mple", "host:port"]
)
def test_a_malformed_allow_entry_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="HOST"):
        parse_allow_entry(entry)


def test_an_allowed_host_and_port_is_opened_and_nothing_else() -> None:
    policy = CallbackPolicy.from_entries(["127.0.0.1:8443", "localhost"])
    assert check_url("https://127.0.0.1:8443/hook", policy).allowed
    assert check_url("https://2130706433:8443/hook", policy).allowed  # the same address
    assert check_url("https://localhost:1234/hook", policy).allowed  # any port
    for refused in [
        "https://127.0.0.1:8444/hook",
        "https://127.0.0.1/hook",
        "https://127.0.0.2:8443/hook",
        "http://127.0.0.1:8443/hook",
        "https://[::1]:8443/hook",
    ]:
        with pytest.raises(PolicyViolation):
            check_url(refused, policy)


def test_allowing_http_opens_the_scheme_not_the_addresses() -> None:
    policy = CallbackPolicy(allow_http=True)
    assert check_url(f"http://{PUBLIC}/", policy).port == 80
    with pytest.raises(PolicyViolation, match="loopback address"):
        check_url("http://127.0.0.1/", policy)


def test_the_policy_describes_itself_for_the_startup_log() -> None:
    assert STRICT.describe() == "strict (https only, public addresses only)"
    opened = CallbackPolicy.from_entries(["[::1]:8443", "127.0.0.1:9000"], allow_http=True)
    assert opened.describe() == "allowing 127.0.0.1:9000, [::1]:8443; http allowed"


# -- settings and flags --------------------------------------------------------------------------


def test_callback_flags_become_settings(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    secret = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
    args = build_parser().parse_args(
        [
            "serve",
            "--callback-allow",
            "127.0.0.1:8443",
            "--callback-allow",
            "hooks.local",
            "--callback-allow-http",
            "--callback-ca-file",
            tls.ca_file,
            "--callback-secret",
            secret,
            "--callback-timeout",
            "0.5",
        ]
    )
    settings = settings_from(args)
    assert settings.callback_allow == frozenset({"127.0.0.1:8443", "hooks.local"})
    assert settings.callback_allow_http is True
    assert settings.callback_ca_file == tls.ca_file
    assert settings.callback_secret == secret
    assert settings.callback_timeout == 0.5


def test_callbacks_are_strict_and_unsigned_by_default() -> None:
    settings = settings_from(build_parser().parse_args(["serve"]))
    assert (settings.callback_allow, settings.callback_allow_http) == (frozenset(), False)
    assert (settings.callback_ca_file, settings.callback_secret) == (None, None)
    assert settings.callback_timeout == 10.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--callback-allow", "user@host"], "not HOST[:PORT]"),
        (["--callback-secret", "secret"], "whsec_"),
        (["--callback-secret", "whsec_!!!"], "whsec_"),
        (["--callback-ca-file", "/nonexistent/ca.pem"], "cannot load CA certificates"),
    ],
    ids=["allow-userinfo", "secret-prefix", "secret-base64", "ca-file"],
)
def test_bad_callback_flags_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "options",
    [
        {"callback_allow": frozenset({"a@b"})},
        {"callback_secret": "nope"},
        {"callback_timeout": 0.0},
    ],
    ids=["allow", "secret", "timeout"],
)
def test_a_simulator_refuses_bad_callback_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each raises its own message
        Simulator(Settings(timings=FAST, **options))


# -- over the API: refused at submit, nothing stored ---------------------------------------------

HOSTILE = [
    "http://public.example/hook",
    "ftp://public.example/hook",
    "https://127.0.0.1/hook",
    "https://127.0.0.2:8443/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0x7f.0.0.1/hook",
    "https://017700000001/hook",
    "https://0177.0.0.1/hook",
    "https://127.1/hook",
    "https://127.0.1/hook",
    "https://127.0.0.1./hook",
    "https://localhost/hook",
    "https://LOCALHOST:8443/hook",
    "https://hooks.localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[fe80::1]/hook",
    "https://[fe80::1%25eth0]/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456:789a::1]/hook",
    "https://[::]/hook",
    "https://[ff02::1]/hook",
    "https://[2002:7f00:1::]/hook",
    "https://0.0.0.0/hook",
    "https://0/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://224.0.0.1/hook",
    "https://239.255.255.250/hook",
    "https://255.255.255.255/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.255/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://user:secret@public.example/hook",
    "https://user@public.example/hook",
    "https://public.example:0/hook",
    "https://public.example/" + "a" * MAX_URL_LENGTH,
    "https://loopback.example/hook",
    "https://private.example/hook",
    "https://mixed.example/hook",
    "https://v6-unique-local.example/hook",
    "https://metadata.example/hook",
]


@pytest.mark.parametrize("url", HOSTILE, ids=lambda url: url[:60])
async def test_a_hostile_callback_url_is_refused_at_submit_and_nothing_is_stored(
    url: str,
) -> None:
    sim = Simulator(
        Settings(timings=FAST, clock="virtual", start_time=START), resolver=FakeResolver(RESOLVES)
    )
    async with api_for(sim) as api:
        response = await api.post(
            "/v1/videos/generations",
            json=create_body(prompt="A cat", callback_url=url),
        )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "callback_url"
    assert "callback_url" in error["message"]
    assert error["message"].startswith("Invalid request parameters: ")
    assert await sim.store.count_tasks() == 0
    assert await sim.deliveries() == []


def test_the_hostile_table_is_long_enough() -> None:
    assert len(HOSTILE) >= 25


async def test_a_public_name_is_accepted_over_the_api() -> None:
    sim = Simulator(
        Settings(timings=FAST, clock="virtual", start_time=START), resolver=FakeResolver(RESOLVES)
    )
    async with api_for(sim) as api:
        task = await create(api, "https://public.example/hook")
    assert task["status"] == "pending"


# -- at delivery: checked again, and nothing is sent when refused --------------------------------


def refusing_transport(sent: list[httpx.Request]) -> httpx.MockTransport:
    """Stands in for the network: records anything the engine tries to send."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(599)

    return httpx.MockTransport(handler)


async def test_a_name_that_turns_private_after_submit_is_refused_at_delivery() -> None:
    resolver = FakeResolver({"rebind.example": [PUBLIC]})
    sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START), resolver=resolver)
    sent: list[httpx.Request] = []
    sim.callbacks.transport = refusing_transport(sent)
    async with api_for(sim) as api:
        task = await create(api, "https://rebind.example/hook")
        resolver.table["rebind.example"] = ["10.0.0.5"]  # DNS changed its answer
        await advance(api, ENDS_AFTER + 100)
        (delivery,) = await deliveries(api, task["id"])

    attempts = delivery["attempts"]
    assert len(attempts) == 4
    assert {a["error"] for a in attempts} == {
        "refused by policy: host rebind.example resolves to 10.0.0.5, a private address"
    }
    assert [a["status_code"] for a in attempts] == [None] * 4
    assert delivery["outcome"] == "exhausted"
    assert sent == []  # no connection was attempted
    assert resolver.asked == ["rebind.example"] * 5  # at submit, then before every attempt


async def test_a_name_that_never_resolves_is_accepted_then_fails_each_attempt() -> None:
    sim = Simulator(
        Settings(timings=FAST, clock="virtual", start_time=START), resolver=FakeResolver()
    )
    sent: list[httpx.Request] = []
    sim.callbacks.transport = refusing_transport(sent)
    async with api_for(sim) as api:
        task = await create(api, "https://offline.example/hook")
        await advance(api, ENDS_AFTER + 100)
        (delivery,) = await deliveries(api, task["id"])

    errors = {a["error"] for a in delivery["attempts"]}
    assert len(delivery["attempts"]) == 4
    assert errors == {
        "refused by policy: host offline.example does not resolve "
        "([Errno -2] Name or service not known)"
    }
    assert sent == []


@pytest.mark.parametrize("allow_http", [False, True], ids=["strict", "allow-http"])
async def test_allow_http_opens_http_over_the_api_for_an_allowed_host(allow_http: bool) -> None:
    settings = Settings(
        timings=FAST,
        clock="virtual",
        start_time=START,
        callback_allow=frozenset({"127.0.0.1:9"}),
        callback_allow_http=allow_http,
    )
    sim = Simulator(settings, resolver=FakeResolver())
    async with api_for(sim) as api:
        allowed = await api.post(
            "/v1/videos/generations",
            json=create_body(prompt="A cat", callback_url="http://127.0.0.1:9/"),
        )
        other_port = await api.post(
            "/v1/videos/generations",
            json=create_body(prompt="A cat", callback_url="http://127.0.0.1:10/"),
        )

    assert allowed.status_code == (200 if allow_http else 400)
    assert other_port.status_code == 400
    assert other_port.json()["error"]["param"] == "callback_url"
