"""Settings (key, base URL, env vars), the key's secrecy, local validation, the public surface."""

from __future__ import annotations

import inspect
import json
from typing import Any

import httpx
import pytest
import respx

import evolink_client as client
from evolink_client import AsyncClient, Client, ConfigurationError, ValidationError

from ..client_fixtures import API_KEY, BASE, CREATE_URL, TASK_ID, TASK_URL, task_body

# -- key and base URL --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    monkeypatch.delenv("EVOLINK_BASE_URL", raising=False)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_missing_key_is_a_clear_error(cls: type[Client] | type[AsyncClient]) -> None:
    with pytest.raises(ConfigurationError, match="EVOLINK_API_KEY"):
        cls()


def test_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "")
    with pytest.raises(ConfigurationError, match="no API key"):
        Client()


@pytest.mark.parametrize(
    "key", ["sk key", "sk-key\n", "clé", "sk\x00"], ids=["space", "newline", "unicode", "nul"]
)
def test_malformed_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(key)
    assert key.strip() not in str(info.value)


def test_key_and_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", API_KEY)
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9/")
    with respx.mock() as router, Client() as c:
        route = router.get(f"http://127.0.0.1:9/v1/tasks/{TASK_ID}").respond(json=task_body())
        c.get_task(TASK_ID)
    assert c.base_url == "http://127.0.0.1:9"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"


def test_arguments_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "env-key")
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://env.test")
    with respx.mock() as router, Client("arg-key", base_url=BASE) as c:
        route = router.get(TASK_URL).respond(json=task_body())
        c.get_task(TASK_ID)
    assert route.calls.last.request.headers["authorization"] == "Bearer arg-key"


def test_default_base_url_is_the_vendors() -> None:
    assert Client(API_KEY).base_url == "https://api.evolink.ai"


@pytest.mark.parametrize("url", ["api.evolink.ai", "ftp://x", "https://", "file:///tmp"])
def test_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        Client(API_KEY, base_url=url)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_key_not_in_repr_or_str(cls: type[Client] | type[AsyncClient]) -> None:
    c = cls(API_KEY, base_url=BASE)
    assert API_KEY not in repr(c)
    assert API_KEY not in str(c)
    assert repr(c) == f"{cls.__name__}(base_url='{BASE}')"


def test_requests_carry_bearer_key_user_agent_and_json() -> None:
    with respx.mock() as router, Client(API_KEY, base_url=BASE) as c:
        route = router.post(CREATE_URL).respond(json=task_body())
        c.create_video("A cat", duration=8, quality="1080p")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"].startswith("evolink-client/")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "sora-2-pro-preview",
        "prompt": "A cat",
        "duration": 8,
        "quality": "1080p",
    }


def test_task_id_is_escaped_into_one_path_segment() -> None:
    with respx.mock() as router, Client(API_KEY, base_url=BASE) as c:
        route = router.get(f"{BASE}/v1/tasks/a%2F..%2Fb%3Fx").respond(json=task_body())
        c.get_task("a/../b?x")
    assert route.call_count == 1


def test_transport_seam_reaches_a_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=task_body())

    with Client(API_KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as c:
        assert c.get_task(TASK_ID).id == TASK_ID
    assert [str(r.url) for r in seen] == [TASK_URL]


# -- local validation: nothing is sent ---------------------------------------------------------

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("prompt-too-long", {"prompt": "x" * 5001}, "prompt"),
    ("prompt-not-str", {"prompt": 42}, "prompt"),
    ("prompt-lone-surrogate", {"prompt": "cat \udc80"}, "prompt"),
    ("model", {"model": "sora-2"}, "model"),
    ("aspect-ratio", {"aspect_ratio": "1:1"}, "aspect_ratio"),
    ("duration-5", {"duration": 5}, "duration"),
    ("duration-str", {"duration": "4"}, "duration"),
    ("duration-bool", {"duration": True}, "duration"),
    ("duration-float", {"duration": 4.5}, "duration"),
    ("quality", {"quality": "4k"}, "quality"),
    (
        "image-urls-two",
        {"image_urls": ["https://a.test/1.png", "https://a.test/2.png"]},
        "image_urls",
    ),
    ("image-urls-str", {"image_urls": "https://a.test/1.png"}, "image_urls"),
    ("image-url-relative", {"image_urls": ["/1.png"]}, "image_urls"),
    ("image-url-ftp", {"image_urls": ["ftp://a.test/1.png"]}, "image_urls"),
    ("callback-http", {"callback_url": "http://hooks.test/x"}, "callback_url"),
    ("callback-relative", {"callback_url": "/hook"}, "callback_url"),
    ("callback-too-long", {"callback_url": "https://h.test/" + "x" * 2040}, "callback_url"),
]


@pytest.mark.parametrize(
    ("kwargs", "param"), [(k, p) for _, k, p in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_create_is_refused_before_any_request(kwargs: dict[str, Any], param: str) -> None:
    args = {"prompt": "A cat"} | kwargs
    prompt = args.pop("prompt")
    with respx.mock(assert_all_called=False) as router, Client(API_KEY, base_url=BASE) as c:
        route = router.post(CREATE_URL).respond(json=task_body())
        with pytest.raises(ValidationError) as info:
            c.create_video(prompt, **args)
    assert info.value.param == param
    assert not route.called


@pytest.mark.anyio
async def test_async_invalid_create_is_refused_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CREATE_URL).respond(json=task_body())
        async with AsyncClient(API_KEY, base_url=BASE) as c:
            with pytest.raises(ValidationError):
                await c.create_video("A cat", duration=6)
    assert not route.called


def test_limits_are_inclusive() -> None:
    with respx.mock() as router, Client(API_KEY, base_url=BASE) as c:
        route = router.post(CREATE_URL).respond(json=task_body())
        c.create_video(
            "x" * 5000,
            aspect_ratio="9:16",
            duration=12,
            quality="720p",
            image_urls=["https://img.test/cat.webp"],
            callback_url="https://h.test/" + "x" * (2048 - len("https://h.test/")),
        )
    assert route.call_count == 1


@pytest.mark.parametrize("task_id", ["", "   "], ids=["empty", "blank"])
def test_empty_task_id_is_refused_locally(task_id: str) -> None:
    with pytest.raises(ValidationError), Client(API_KEY, base_url=BASE) as c:
        c.get_task(task_id)


def test_validation_error_is_also_a_value_error() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ConfigurationError, ValueError)


# -- the public surface ------------------------------------------------------------------------


def test_all_is_exactly_the_public_names() -> None:
    public = [name for name in vars(client) if not name.startswith("_")] + ["__version__"]
    assert sorted(client.__all__) == sorted(public)


def test_exported_classes_and_functions_claim_the_package() -> None:
    for name in client.__all__:
        member = getattr(client, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__.startswith("evolink_client."), name


def test_every_error_derives_from_the_base() -> None:
    members = [getattr(client, n) for n in client.__all__]
    errors = [m for m in members if inspect.isclass(m) and issubclass(m, BaseException)]
    assert len(errors) == 19
    for cls in errors:
        assert issubclass(cls, client.EvolinkError), cls
