"""Replayed recordings (`serve --replay`): the recorded tasks, brought back on the simulator's
clock, and the recorded lifecycle a new create's request matches."""

from __future__ import annotations

from ..domain.errors import MockError
from ..domain.recording import RecordedTask
from ..domain.tasks import VideoRequest
from .requests import RequestParser

#: The owner of a recorded task: no key looks like it (keys have no spaces), and any accepted
#: key may read the task, since the recording kept no key.
REPLAYED = "recorded task"


def _key(request: VideoRequest) -> VideoRequest:
    """What a create must share with a recorded one to replay it: all but the callback URL."""
    return request._replace(callback_url=None)


class Replays:
    def __init__(self, tasks: tuple[RecordedTask, ...], parser: RequestParser) -> None:
        self.tasks: list[tuple[RecordedTask, VideoRequest]] = []
        self._by_request: dict[VideoRequest, RecordedTask] = {}
        for task in tasks:
            body = {k: v for k, v in task.create_body.items() if k != "callback_url"}
            try:
                request = parser.parse(body)
            except MockError as exc:
                raise ValueError(f"recorded task {task.task_id}: {exc}") from exc
            self.tasks.append((task, request))
            self._by_request.setdefault(_key(request), task)  # the first recording of it wins
        #: task id -> the recorded result video it serves (a recorded task's, a replaying one's)
        self.media: dict[str, str] = {t.task_id: t.media[0] for t in tasks if t.media}
        #: the recorded tasks are still to be put in the store (at the first call, and again
        #: after a reset: from then on, on the simulator's clock)
        self.due = bool(self.tasks)

    def match(self, request: VideoRequest) -> RecordedTask | None:
        if not self._by_request:
            return None
        return self._by_request.get(_key(request))
