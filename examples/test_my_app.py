"""How a user tests their own code with the plugin's fixtures alone (installed with this package).

`generate_video` stands for the user's code: it asks Evolink for a video with a callback URL.
"""

from __future__ import annotations

import time

import httpx
import pytest

from evolink_client import AsyncClient, Client


# --8<-- [start:callback]
def generate_video(base_url: str, api_key: str, prompt: str, callback_url: str) -> str:
    """The code under test: start a task, return its id."""
    with Client(base_url=base_url, api_key=api_key) as evolink:
        return evolink.create_video(prompt, callback_url=callback_url).id


def test_the_callback_arrives_when_the_video_is_ready(evolink_mock, evolink_receiver) -> None:
    started = time.monotonic()
    task_id = generate_video(
        evolink_mock.base_url, evolink_mock.api_key, "a cat", evolink_receiver.url()
    )

    evolink_mock.advance(3600)  # an hour: the task (3-5 minutes, as the vendor) completes

    (delivered,) = evolink_receiver.requests
    assert delivered.json()["id"] == task_id
    assert delivered.json()["status"] == "completed"
    assert evolink_mock.callbacks(task_id)[0]["outcome"] == "delivered"
    assert time.monotonic() - started < 30  # an hour of the mock's time, no real waiting


# --8<-- [end:callback]


# --8<-- [start:fault]
def test_my_code_survives_a_rate_limit(evolink_mock) -> None:
    evolink_mock.fault("rate_limit_exceeded", operation="create", times=1)

    with Client(
        base_url=evolink_mock.base_url, api_key=evolink_mock.api_key, sleep=lambda s: None
    ) as evolink:
        task = evolink.create_video("a cat")  # the client retries the 429: no task was made by it

    assert task.status.value == "pending"
    assert [e["status"] for e in evolink_mock.requests()] == [429, 200]


# --8<-- [end:fault]


# --8<-- [start:respx]
@pytest.mark.anyio
async def test_in_process_with_respx(evolink_respx) -> None:
    async with AsyncClient(api_key="sk-anything") as evolink:  # the default base URL, intercepted
        task = await evolink.create_video("a cat")
        await evolink_respx.advance(3600)
        done = await evolink.get_task(task.id)

    assert done.status.value == "completed"
    assert isinstance(evolink_respx.calls.last.request, httpx.Request)


# --8<-- [end:respx]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
