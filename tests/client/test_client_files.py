"""`upload_file` and `evolink-video upload` against the simulator over a socket: a path, bytes
or a URL in, a URL out that a create takes as `image_urls`; the files host found by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from evolink_client import (
    AsyncClient,
    Client,
    InvalidRequestError,
    PermissionDeniedError,
    UploadedFile,
    ValidationError,
)
from evolink_client._cli import main
from mockserver import Settings, create_app
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

from ..image_fixtures import png

pytestmark = pytest.mark.anyio

KEY = "sk-client-files"
FULL = "sk-client-files-full"  # a key whose quota is one file
WIDE = png(1280, 720)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EVOLINK_API_KEY", "EVOLINK_BASE_URL", "EVOLINK_FILES_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The mock on a frozen virtual clock, checking reference images (`--fetch-images`)."""
    settings = Settings(
        timings=FAST,
        clock="virtual",
        fetch_images=True,
        profiles=Profiles(keys={FULL: KeyProfile(max_files=1)}),
    )
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


@pytest.fixture
def ref(tmp_path: Path) -> Path:
    path = tmp_path / "ref.png"
    path.write_bytes(WIDE)
    return path


def fetched(url: str) -> bytes:
    response = httpx.get(url)
    assert response.status_code == 200
    return response.content


def test_a_path_is_uploaded_with_its_name_and_served_back(server: str, ref: Path) -> None:
    with Client(KEY, base_url=server) as client:
        uploaded = client.upload_file(ref, upload_path="refs")

    assert isinstance(uploaded, UploadedFile)
    assert (uploaded.original_name, uploaded.mime_type, uploaded.file_size) == (
        "ref.png",
        "image/png",
        len(WIDE),
    )
    assert uploaded.upload_path == "refs"
    assert uploaded.url.startswith(f"{server}/files/{uploaded.file_id}/")
    assert fetched(uploaded.url) == WIDE


def test_bytes_and_a_url_are_uploaded_too(server: str) -> None:
    with Client(KEY, base_url=server) as client:
        from_bytes = client.upload_file(WIDE, file_name="wide.png")
        from_url = client.upload_file(from_bytes.url)  # the mock's own: copied from its store

    assert from_bytes.file_name == "wide.png"
    assert from_url.file_id != from_bytes.file_id
    assert fetched(from_url.url) == WIDE


async def test_the_async_client_uploads_the_same(server: str, ref: Path) -> None:
    async with AsyncClient(KEY, base_url=server) as client:
        uploaded = await client.upload_file(ref)
        again = await client.upload_file(WIDE)

    assert fetched(uploaded.url) == fetched(again.url) == WIDE


def test_an_uploaded_url_is_a_reference_image_a_create_takes(server: str) -> None:
    with Client(KEY, base_url=server) as client:
        url = client.upload_file(WIDE).url
        task = client.create_video("a cat", aspect_ratio="16:9", duration=4, image_urls=[url])
        httpx.post(f"{server}/_mock/clock/advance", json={"seconds": 3600}).raise_for_status()

        assert client.get_task(task.id).status.value == "completed"


def test_a_refused_upload_raises_the_files_apis_message(server: str) -> None:
    with (
        Client(KEY, base_url=server) as client,
        pytest.raises(InvalidRequestError, match="text, not an image") as refused,
    ):
        client.upload_file(b"just some text")

    assert refused.value.status == 400
    assert refused.value.request_id is not None


def test_a_full_quota_is_a_permission_error_and_not_retried(server: str) -> None:
    with Client(FULL, base_url=server) as client:
        client.upload_file(WIDE)
        with pytest.raises(PermissionDeniedError, match="File quota exceeded: 1 of 1"):
            client.upload_file(WIDE)


@pytest.mark.parametrize(
    ("source", "words"),
    [(b"", "1 byte to"), ("no-such-file.png", "no such file"), (42, "takes a path")],
    ids=["empty", "missing-path", "not-a-source"],
)
def test_a_source_that_cannot_be_uploaded_is_refused_before_anything_is_sent(
    source: object, words: str
) -> None:
    with respx.mock(assert_all_called=False) as mock, Client(KEY) as client:
        with pytest.raises(ValidationError, match=words):
            client.upload_file(source)  # type: ignore[arg-type]

        assert mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("base_url", "files_base_url", "env", "expected"),
    [
        (None, None, None, "https://files-api.evolink.ai"),
        ("http://127.0.0.1:8000", None, None, "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:9000/", None, "http://127.0.0.1:9000"),
        (None, None, "http://files.test", "http://files.test"),
    ],
    ids=["vendor", "mock", "given", "env"],
)
def test_the_files_host_is_the_vendors_for_the_vendor_and_the_servers_for_any_other(
    monkeypatch: pytest.MonkeyPatch,
    base_url: str | None,
    files_base_url: str | None,
    env: str | None,
    expected: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("EVOLINK_FILES_BASE_URL", env)
    with Client(KEY, base_url=base_url, files_base_url=files_base_url) as client:
        assert client.files_base_url == expected


def test_an_upload_goes_to_the_vendors_files_host_with_the_key() -> None:
    body = {"success": True, "code": 200, "msg": "ok", "data": _data()}
    with respx.mock() as mock, Client(KEY) as client:
        route = mock.post("https://files-api.evolink.ai/api/v1/files/upload/base64").respond(
            json=body
        )
        uploaded = client.upload_file(WIDE)

    assert uploaded.file_id == "file_abcdef123"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert "base64_data" in json.loads(sent.content)


def _data() -> dict[str, object]:
    return {
        "file_id": "file_abcdef123",
        "file_name": "a.png",
        "original_name": "a.png",
        "file_size": 3,
        "mime_type": "image/png",
        "file_url": "https://files.evolink.ai/images/a.png",
    }


# -- evolink-video upload ---------------------------------------------------------------------


def test_the_upload_command_prints_the_url(
    server: str, ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["upload", str(ref), "--base-url", server, "--api-key", KEY])

    out, err = capsys.readouterr()
    assert code == 0
    (url,) = out.splitlines()
    assert url.startswith(f"{server}/files/file_")
    assert fetched(url) == WIDE
    assert "image/png" in err


def test_the_upload_command_with_json_prints_the_file(
    server: str, ref: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["upload", str(ref), "--json", "--base-url", server, "--api-key", KEY])

    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["file"]["original_name"] == "ref.png"


def test_the_upload_command_of_a_text_file_exits_3(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("not an image\n")

    code = main(["upload", str(notes), "--base-url", server, "--api-key", KEY])

    assert code == 3
    assert "text, not an image" in capsys.readouterr().err
