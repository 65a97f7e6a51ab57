"""What the client checks locally, copied from the spec.

The client does not import the simulator, so these are copies;
`tests/client/test_client_spec_drift.py` compares each one with `mockserver.load_spec()`, so a
change to the spec fails a test until this file follows. The idempotency names at the end are
not in the spec (the vendor documents no idempotency): they follow the vendor's own client and
the IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field"; client/README.md, "Retries".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

DEFAULT_BASE_URL: Final = "https://api.evolink.ai"
API_KEY_ENV: Final = "EVOLINK_API_KEY"
BASE_URL_ENV: Final = "EVOLINK_BASE_URL"

CREATE_PATH: Final = "/v1/videos/generations"
TASK_PATH: Final = "/v1/tasks/{task_id}"
CREDITS_PATH: Final = "/v1/credits"
#: the gateway's routes the vendor's client calls beyond the pages (the spec's overlay)
TASKS_PATH: Final = "/v1/tasks"
TASKS_BATCH_PATH: Final = "/v1/tasks/batch"
MODELS_PATH: Final = "/v1/models"
#: `GET /v1/tasks`: the filters' values, the largest page size (and the largest page)
LIST_STATUSES: Final = ("pending", "processing", "completed", "failed", "cancelled")
LIST_TYPES: Final = ("text", "image", "audio", "video")
LIST_PAGE_SIZE_MAX: Final = 100
LIST_PAGE_MAX: Final = 100_000
#: `POST /v1/tasks/batch`: how many ids one call takes, and how a task id starts
BATCH_MAX_IDS: Final = 50
TASK_ID_PREFIX: Final = "task-unified-"

#: The files API: the vendor's pages put it on a host of its own; a client whose base URL is
#: another (the mock's) finds it there too, unless told otherwise.
DEFAULT_FILES_BASE_URL: Final = "https://files-api.evolink.ai"
FILES_BASE_URL_ENV: Final = "EVOLINK_FILES_BASE_URL"
UPLOAD_BASE64_PATH: Final = "/api/v1/files/upload/base64"
UPLOAD_STREAM_PATH: Final = "/api/v1/files/upload/stream"
UPLOAD_URL_PATH: Final = "/api/v1/files/upload/url"
#: The vendor's own client's limit on one upload (a server may take less).
UPLOAD_MAX_BYTES: Final = 100 * 1024 * 1024

MODEL: Final = "sora-2-pro-preview"
#: Each model's request fields with a choice of values, as its page lists them; a field a
#: model's page does not have is not a field of that model (sora-2-preview has no quality).
CHOICES: Final[Mapping[str, Mapping[str, tuple[object, ...]]]] = {
    MODEL: {
        "aspect_ratio": ("16:9", "9:16"),
        "duration": (4, 8, 12),
        "quality": ("720p", "1080p"),
    },
    "sora-2-preview": {
        "aspect_ratio": ("1280x720", "720x1280", "16:9", "9:16"),
        "duration": (4, 8, 12),
    },
}
MODELS: Final = tuple(CHOICES)
#: the default model's
ASPECT_RATIOS: Final = ("16:9", "9:16")
DURATIONS: Final = (4, 8, 12)
QUALITIES: Final = ("720p", "1080p")
PROMPT_MAX_LENGTH: Final = 5000
IMAGE_URLS_MAX_ITEMS: Final = 1
#: Stated in the prose of the spec's `callback_url` description, as is "HTTPS only".
CALLBACK_URL_MAX_LENGTH: Final = 2048

TASK_OBJECT: Final = "video.generation.task"
REQUEST_ID_HEADER: Final = "x-request-id"

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
IDEMPOTENCY_REPLAYED_HEADER: Final = "idempotency-replayed"
IDEMPOTENCY_CONFLICT: Final = "idempotency_conflict"
#: What a server takes for a key; the client refuses anything else before sending.
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 255
