"""The files API over HTTP, on every store: uploads by base64, multipart and URL served back
byte for byte, counted by the quota, gone 72 simulated hours later; bad input refused in the
files envelope with nothing stored; a create naming an uploaded file checked from the store."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings
from mockserver.cli.config import load_profiles
from mockserver.cli.main import build_parser, settings_from
from mockserver.domain.files import FILE_ID_SHAPE, FILE_TTL
from mockserver.domain.profiles import ConfigError, KeyProfile, Profiles
from mockserver.domain.timing import FAST

from ..bodies import create_body
from ..callback_fixtures import KEY, TLS, api_for
from ..conftest import START, MakeSimulator
from ..image_fixtures import GIF, allowing, image_server, jpeg, png, webp

pytestmark = pytest.mark.anyio

WIDE = png(1280, 720)
SQUARE = png(720, 720)
BASE64 = "/api/v1/files/upload/base64"
STREAM = "/api/v1/files/upload/stream"
URL = "/api/v1/files/upload/url"
QUOTA = "/api/v1/files/quota"
OTHER = "sk-test-other"


def data_url(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


async def upload(
    api: httpx.AsyncClient, content: bytes = WIDE, mime: str = "image/png", **fields: str
) -> dict[str, Any]:
    response = await api.post(BASE64, json={"base64_data": data_url(content, mime), **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def used(api: httpx.AsyncClient) -> int:
    quota: int = (await api.get(QUOTA)).json()["data"]["used_files"]
    return quota


async def advance(api: httpx.AsyncClient, seconds: float) -> None:
    assert (await api.post("/_mock/clock/advance", json={"seconds": seconds})).status_code == 200


@pytest.fixture
async def files_api(make_simulator: MakeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """The mock with `--fetch-images`, its store the one under test."""
    settings = Settings(timings=FAST, clock="virtual", start_time=START, fetch_images=True)
    async with api_for(make_simulator(settings)) as api:
        yield api


async def test_a_seeded_mock_gives_uploads_the_same_ids_in_every_run(
    make_simulator: MakeSimulator,
) -> None:
    """Under `--seed`, file ids come from a stream of their own: the same in every run, and a
    create between two uploads (which draws from the tasks' stream) leaves them alone."""
    runs = []
    for creates in (0, 2):
        settings = Settings(timings=FAST, clock="virtual", start_time=START, seed=11)
        async with api_for(make_simulator(settings)) as api:
            first = (await upload(api))["data"]["file_id"]
            for _ in range(creates):
                created = await api.post("/v1/videos/generations", json=create_body())
                assert created.status_code == 200, created.text
            runs.append((first, (await upload(api))["data"]["file_id"]))

    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]
    assert all(FILE_ID_SHAPE.fullmatch(file_id) for file_id in runs[0])


@pytest.mark.parametrize(
    "base64_data", [data_url(WIDE), base64.b64encode(WIDE).decode()], ids=["data-url", "plain"]
)
async def test_a_png_uploaded_as_base64_is_served_back_byte_for_byte(
    api: httpx.AsyncClient, base64_data: str
) -> None:
    response = await api.post(BASE64, json={"base64_data": base64_data})

    body = response.json()
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert (body["success"], body["code"], body["msg"]) == (True, 200, "File uploaded successfully")
    data = body["data"]
    assert data["file_id"].startswith("file_")
    assert (data["mime_type"], data["file_size"], data["upload_path"]) == (
        "image/png",
        len(WIDE),
        "images",
    )
    assert data["file_url"] == f"http://mock.test/files/{data['file_id']}/{data['file_name']}"
    served = await api.get(data["file_url"])
    assert served.status_code == 200
    assert served.content == WIDE
    assert served.headers["content-type"] == "image/png"
    assert (await api.get(data["download_url"])).content == WIDE


async def test_a_file_name_of_255_characters_is_taken(api: httpx.AsyncClient) -> None:
    name = "a" * 251 + ".png"  # the limit; one more is refused (the bad-fields table)

    assert (await upload(api, file_name=name))["data"]["file_name"] == name


async def test_a_png_uploaded_as_multipart_keeps_its_name_and_is_served_back(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        STREAM,
        files={"file": ("ref.png", WIDE, "image/png")},
        data={"uploadPath": "refs/cats", "fileName": "cat.png"},
    )

    data = response.json()["data"]
    assert response.status_code == 200, response.text
    assert (data["original_name"], data["file_name"], data["upload_path"]) == (
        "ref.png",
        "cat.png",
        "refs/cats",
    )
    assert (await api.get(data["file_url"])).content == WIDE


@pytest.mark.parametrize(
    ("content", "mime"),
    [(jpeg(1280, 720), "image/jpeg"), (webp(1280, 720), "image/webp"), (GIF, "image/gif")],
    ids=["jpeg", "webp", "gif"],
)
async def test_each_image_type_the_pages_name_is_taken_by_its_content(
    api: httpx.AsyncClient, content: bytes, mime: str
) -> None:
    response = await api.post(STREAM, files={"file": ("no-extension", content)})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["mime_type"] == mime


async def test_the_quota_counts_both_uploads_and_a_delete_frees_a_place(
    api: httpx.AsyncClient,
) -> None:
    first = await upload(api)
    await api.post(STREAM, files={"file": ("ref.png", WIDE, "image/png")})

    quota = (await api.get(QUOTA)).json()
    assert quota == {
        "success": True,
        "code": 200,
        "data": {
            "user_group": "default",
            "used_files": 2,
            "max_files": 100,
            "remain_files": 98,
            "is_custom": False,
            "quota_reason": "",
        },
    }
    deleted = await api.delete(f"/api/v1/files/{first['data']['file_id']}")
    assert deleted.json() == {"success": True, "code": 200, "msg": "File deleted successfully"}
    assert await used(api) == 1
    assert (await api.get(first["data"]["file_url"])).status_code == 404


async def test_a_file_is_gone_72_hours_after_its_upload(api: httpx.AsyncClient) -> None:
    data = (await upload(api))["data"]

    await advance(api, FILE_TTL - 1)
    assert (await api.get(data["file_url"])).status_code == 200
    await advance(api, 2)  # 72 h + 1 s after the upload

    assert (await api.get(data["file_url"])).status_code == 404
    assert (await api.get(data["download_url"])).status_code == 404
    assert await used(api) == 0
    assert (await api.get("/api/v1/files/list")).json()["data"] == {"total": 0, "files": []}
    gone = await api.delete(f"/api/v1/files/{data['file_id']}")
    assert (gone.status_code, gone.json()["msg"]) == (404, "File not found or expired")


async def test_the_times_of_a_file_are_its_upload_and_72_hours_later(
    api: httpx.AsyncClient,
) -> None:
    data = (await upload(api))["data"]

    assert data["upload_time"] == "2027-01-15T08:00:00+00:00"  # START, in UTC
    assert data["expires_at"] == "2027-01-18T08:00:00+00:00"


TEXT = b"hello, this is a text file\n"


@pytest.mark.parametrize(
    ("path", "request_args", "words"),
    [
        (BASE64, {"json": {"base64_data": "not base64!"}}, "does not decode"),
        (BASE64, {"json": {"base64_data": "abcde"}}, "does not decode"),
        (BASE64, {"json": {"base64_data": data_url(TEXT, "image/png")}}, "text, not an image"),
        (
            BASE64,
            {"json": {"base64_data": data_url(WIDE, "image/jpeg")}},
            "says image/jpeg, but its content is image/png",
        ),
        (BASE64, {"json": {"base64_data": data_url(WIDE)[5:]}}, "does not decode"),
        (BASE64, {"json": {}}, "base64_data is required"),
        (BASE64, {"json": [data_url(WIDE)]}, "must be a JSON object"),
        (BASE64, {"content": b"{", "headers": {"content-type": "application/json"}}, "JSON"),
        (
            BASE64,
            {"json": {"base64_data": data_url(WIDE), "upload_path": "../../etc"}},
            "must not climb out",
        ),
        (
            BASE64,
            {"json": {"base64_data": data_url(WIDE), "file_name": "a/b.png"}},
            "plain file name",
        ),
        (
            BASE64,
            {"json": {"base64_data": data_url(WIDE), "file_name": "a" * 252 + ".png"}},
            "file_name is 256 characters; at most 255",
        ),
        (STREAM, {"files": {"picture": ("ref.png", WIDE, "image/png")}}, "No file"),
        (STREAM, {"data": {"file_name": "ref.png"}}, "multipart/form-data"),
        (STREAM, {"files": {"file": ("ref.txt", TEXT, "text/plain")}}, "text, not an image"),
        (STREAM, {"files": {"file": ("ref.gif", WIDE, "image/gif")}}, "says image/gif"),
        (
            STREAM,
            {
                "content": b"--x\r\nno headers",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            "malformed",
        ),
        (URL, {"json": {"file_url": "https://10.0.0.7/ref.png"}}, "private address"),
        (URL, {"json": {"file_url": "https://127.0.0.1/ref.png"}}, "loopback address"),
        (URL, {"json": {"file_url": "ftp://example.com/ref.png"}}, "must use https or http"),
        (URL, {"json": {}}, "file_url is required"),
    ],
    ids=[
        "base64-not-base64",
        "base64-bad-length",
        "base64-text",
        "data-url-lies",
        "data-url-without-data",
        "base64-missing",
        "base64-not-an-object",
        "base64-not-json",
        "upload-path-climbs",
        "file-name-with-a-path",
        "file-name-too-long",
        "multipart-without-a-file",
        "not-multipart",
        "multipart-text",
        "multipart-type-lies",
        "multipart-malformed",
        "url-private",
        "url-loopback",
        "url-scheme",
        "url-missing",
    ],
)
async def test_a_bad_upload_is_a_400_in_the_files_envelope_and_stores_nothing(
    api: httpx.AsyncClient, path: str, request_args: dict[str, Any], words: str
) -> None:
    response = await api.post(path, **request_args)

    body = response.json()
    assert response.status_code == 400
    assert set(body) == {"success", "code", "msg"}
    assert (body["success"], body["code"]) == (False, 400)
    assert words in body["msg"]
    assert await used(api) == 0


async def test_without_a_key_every_files_route_is_a_401_in_the_files_envelope(
    api: httpx.AsyncClient,
) -> None:
    no_key = {"Authorization": ""}
    answers = [
        await api.post(BASE64, json={"base64_data": data_url(WIDE)}, headers=no_key),
        await api.post(STREAM, files={"file": ("ref.png", WIDE)}, headers=no_key),
        await api.post(URL, json={"file_url": "https://example.com/a.png"}, headers=no_key),
        await api.get(QUOTA, headers=no_key),
        await api.get("/api/v1/files/list", headers=no_key),
        await api.delete("/api/v1/files/file_abcdefgh", headers=no_key),
    ]

    assert [(r.status_code, r.json()) for r in answers] == [
        (401, {"success": False, "code": 401, "msg": "Invalid or expired token"})
    ] * len(answers)
    assert await used(api) == 0


@pytest.fixture
async def small_api(make_simulator: MakeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A mock taking files of at most 4096 bytes, whose key keeps at most 2 of them."""
    settings = Settings(
        timings=FAST,
        clock="virtual",
        start_time=START,
        max_upload_bytes=4096,
        profiles=Profiles(keys={KEY: KeyProfile(max_files=2)}),
    )
    async with api_for(make_simulator(settings)) as api:
        yield api


BIG = png(1280, 720) + b"\x00" * 8192  # a valid PNG over 4096 bytes


@pytest.mark.parametrize(
    ("path", "request_args"),
    [
        (BASE64, {"json": {"base64_data": data_url(BIG)}}),
        (STREAM, {"files": {"file": ("big.png", BIG, "image/png")}}),
    ],
    ids=["base64", "multipart"],
)
async def test_an_upload_over_the_limit_is_a_413_and_stores_nothing(
    small_api: httpx.AsyncClient, path: str, request_args: dict[str, Any]
) -> None:
    response = await small_api.post(path, **request_args)

    assert response.status_code == 413
    assert response.json() == {
        "success": False,
        "code": 413,
        "msg": "File too large: at most 4096 bytes",
    }
    assert await used(small_api) == 0


async def test_an_upload_over_the_limit_is_refused_before_it_is_all_read(
    small_api: httpx.AsyncClient,
) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'{"base64_data": "'
        for n in range(1000):  # 1 MB of base64 in all, were it all read
            sent.append(n)
            yield b"A" * 1024
        yield b'"}'

    response = await small_api.post(
        BASE64, content=body(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert len(sent) < 1000


async def test_a_full_quota_is_a_403_and_stores_nothing_until_a_file_is_deleted(
    small_api: httpx.AsyncClient,
) -> None:
    first = await upload(small_api)
    await upload(small_api)

    full = await small_api.post(STREAM, files={"file": ("ref.png", WIDE)})

    assert full.status_code == 403
    assert full.json()["msg"].startswith("File quota exceeded: 2 of 2 files")
    quota = (await small_api.get(QUOTA)).json()["data"]
    assert (quota["used_files"], quota["remain_files"], quota["is_custom"]) == (2, 0, True)
    await small_api.delete(f"/api/v1/files/{first['data']['file_id']}")
    assert (await small_api.post(STREAM, files={"file": ("ref.png", WIDE)})).status_code == 200


async def test_another_keys_file_is_not_deleted_and_not_in_its_list(
    api: httpx.AsyncClient,
) -> None:
    mine = (await upload(api))["data"]
    stranger = {"Authorization": f"Bearer {OTHER}"}

    refused = await api.delete(f"/api/v1/files/{mine['file_id']}", headers=stranger)
    listed = await api.get("/api/v1/files/list", headers=stranger)

    assert refused.status_code == 403
    assert refused.json()["msg"] == "You don't have permission to delete this file"
    assert listed.json()["data"] == {"total": 0, "files": []}
    assert (await api.get(mine["file_url"])).content == WIDE  # nothing lost
    assert await used(api) == 1


async def test_the_list_pages_the_keys_files_newest_first(api: httpx.AsyncClient) -> None:
    ids = []
    for n in range(3):
        ids.append((await upload(api, file_name=f"ref-{n}.png"))["data"]["file_id"])
        await advance(api, 1)

    first = (await api.get("/api/v1/files/list", params={"pageSize": 2})).json()["data"]
    second = (await api.get("/api/v1/files/list", params={"page": 2, "pageSize": 2})).json()

    assert first["total"] == 3
    assert [f["file_id"] for f in first["files"]] == [ids[2], ids[1]]
    assert [f["file_id"] for f in second["data"]["files"]] == [ids[0]]
    assert second["msg"] == "success"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"page": "0"}, "page"),
        ({"page": "many"}, "page"),
        ({"page": "²"}, "page"),  # a digit to str.isdigit(), none to int()
        ({"pageSize": "101"}, "pageSize"),
    ],
    ids=["page-0", "page-many", "page-superscript", "page-size-101"],
)
async def test_a_bad_page_is_a_400_naming_it(
    api: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    response = await api.get("/api/v1/files/list", params=params)

    assert response.status_code == 400
    assert response.json()["msg"].startswith(f"{param} must be a whole number")


@pytest.mark.parametrize(
    ("file_id", "status"), [("file_nothere1", 404), ("not-a-file", 400)], ids=["unknown", "shape"]
)
async def test_a_delete_of_no_such_file_is_refused(
    api: httpx.AsyncClient, file_id: str, status: int
) -> None:
    response = await api.delete(f"/api/v1/files/{file_id}")

    assert (response.status_code, response.json()["code"]) == (status, status)


async def test_a_delete_of_the_list_is_a_method_not_allowed(api: httpx.AsyncClient) -> None:
    response = await api.delete("/api/v1/files/list")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_the_answers_are_journaled_but_a_files_bytes_are_not(
    api: httpx.AsyncClient,
) -> None:
    data = (await upload(api))["data"]
    await api.get(data["file_url"])
    await api.post(BASE64, json={})

    journal = (await api.get("/_mock/requests")).json()
    paths = [(e["method"], e["path"], e["status"]) for e in journal]
    assert paths == [("POST", BASE64, 200), ("POST", BASE64, 400)]


# -- a create that names an uploaded file, under --fetch-images -----------------------------------


async def create_with(api: httpx.AsyncClient, url: str) -> dict[str, Any]:
    body = {"model": "sora-2-pro-preview", "prompt": "a cat", "aspect_ratio": "16:9"}
    created = await api.post("/v1/videos/generations", json={**body, "image_urls": [url]})
    assert created.status_code == 200, created.text
    await advance(api, 3600)
    task: dict[str, Any] = (await api.get(f"/v1/tasks/{created.json()['id']}")).json()
    return task


async def test_a_16_9_create_with_an_uploaded_1280x720_png_completes(
    files_api: httpx.AsyncClient,
) -> None:
    url = (await upload(files_api))["data"]["file_url"]

    task = await create_with(files_api, url)  # http://mock.test: nothing could fetch it

    assert task["status"] == "completed"


async def test_a_16_9_create_with_an_uploaded_square_png_fails_its_dimensions(
    files_api: httpx.AsyncClient,
) -> None:
    url = (await upload(files_api, SQUARE))["data"]["file_url"]

    task = await create_with(files_api, url)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "image_dimension_mismatch"
    assert "720x720" in task["error"]["message"]


async def test_a_create_with_an_expired_upload_fails_as_an_unreadable_image(
    files_api: httpx.AsyncClient,
) -> None:
    url = (await upload(files_api))["data"]["file_url"]
    await advance(files_api, FILE_TTL + 1)

    task = await create_with(files_api, url)

    assert task["error"]["code"] == "image_processing_error"
    assert "no such uploaded file" in task["error"]["message"]


async def test_an_uploaded_gif_is_no_reference_image(files_api: httpx.AsyncClient) -> None:
    url = (await upload(files_api, GIF, "image/gif"))["data"]["file_url"]

    task = await create_with(files_api, url)

    assert task["error"]["code"] == "image_processing_error"


# -- upload by URL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_host(tls: TLS) -> Iterator[tuple[str, list[str]]]:
    with image_server(tls, {"/wide.png": WIDE, "/big.png": BIG, "/notes.txt": TEXT}) as served:
        yield served


async def test_a_url_upload_fetches_under_the_callback_allow_list(
    make_simulator: MakeSimulator, tls: TLS, image_host: tuple[str, list[str]]
) -> None:
    authority, asked = image_host
    async with allowing(make_simulator, tls, authority) as api:
        response = await api.post(URL, json={"file_url": f"https://{authority}/wide.png"})

        data = response.json()["data"]
        assert response.status_code == 200, response.text
        assert data["original_name"] == "wide.png"
        assert (await api.get(data["file_url"])).content == WIDE
        assert "/wide.png" in asked


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/notes.txt", 400, "text, not an image"),
        ("/absent.png", 400, "HTTP 404"),
        ("/big.png", 413, "File too large"),
    ],
    ids=["text", "absent", "too-large"],
)
async def test_a_url_upload_of_no_image_stores_nothing(
    make_simulator: MakeSimulator,
    tls: TLS,
    image_host: tuple[str, list[str]],
    path: str,
    status: int,
    words: str,
) -> None:
    authority, _ = image_host
    async with allowing(make_simulator, tls, authority, max_upload_bytes=4096) as api:
        response = await api.post(URL, json={"file_url": f"https://{authority}{path}"})

        assert response.status_code == status
        assert words in response.json()["msg"]
        assert await used(api) == 0


async def test_a_url_upload_of_the_mocks_own_file_copies_it_from_the_store(
    api: httpx.AsyncClient,
) -> None:
    first = (await upload(api))["data"]

    copy = await api.post(URL, json={"file_url": first["file_url"]})

    assert copy.status_code == 200, copy.text
    assert copy.json()["data"]["file_id"] != first["file_id"]
    assert (await api.get(copy.json()["data"]["file_url"])).content == WIDE


def test_serve_takes_the_upload_limit_and_the_config_takes_each_keys_quota(
    tmp_path: Path,
) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('[defaults]\nmax_files = 5\n\n[keys."sk-alice"]\nmax_files = 1\n')
    parser = build_parser()

    settings = settings_from(
        parser.parse_args(["serve", "--max-upload-mb", "1.5", "--config", str(config)])
    )

    assert settings.max_upload_bytes == 1_572_864
    assert settings.profiles.for_key("sk-bob").max_files == 5
    assert settings.profiles.for_key("sk-alice").max_files == 1
    assert settings_from(parser.parse_args(["serve"])).max_upload_bytes == 20 * 2**20


def test_a_quota_that_is_no_whole_number_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text("[defaults]\nmax_files = 1.5\n")

    with pytest.raises(ConfigError, match=r"defaults\.max_files: expected a whole number"):
        load_profiles(config)
