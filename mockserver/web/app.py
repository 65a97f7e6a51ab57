"""The Starlette application: the route table, the app's exception handlers, and its one
dispatcher (`mockserver.web.dispatch`) under whatever middleware is added."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ..service.simulator import Simulator
from ..service.worlds import Worlds, store_factory
from ..settings import Settings
from ..ui.routes import ROUTES as UI_ROUTES
from . import admin, files, gateway, metrics, vendor
from .auth import AdminAuth
from .dispatch import Dispatcher
from .errors import EXCEPTION_HANDLERS
from .requests import header, served_by


class MockApp(Starlette):
    """The application, with its simulator as a plain attribute (`app.state.simulator` is kept
    too, for code that looks there)."""

    def __init__(self, simulator: Simulator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.simulator = simulator
        self.state.simulator = simulator
        #: the simulator, or with isolated keys one per key (`simulator` is then the world of
        #: refused keys)
        self.worlds = Worlds(simulator, store_for=store_factory(simulator.store))
        #: (scheme, host, root_path, server) -> base URL, see `requests.base_url`
        self.base_urls: dict[object, str] = {}
        #: the public price lists by operation, made on their first read: (body, ETag)
        self.public_bodies: dict[str, tuple[bytes, str]] = {}
        self.dispatcher = Dispatcher(self, before=self._enter_world)
        self.metrics = metrics.AppMetrics()

    async def _enter_world(self, request: Request) -> None:
        """Open the world a request goes to, before it runs there: an isolated key's, made on
        its first request, or the app's own when it is served without its lifespan (an
        in-process transport)."""
        if not self.worlds.ready:
            await self.worlds.enter(header(request, b"authorization"))
        if self.worlds.ready:  # for good (keys are not isolated): no request needs this again
            self.dispatcher.before = None

    def build_middleware_stack(self) -> ASGIApp:
        """The middleware added to the app around the dispatcher, which handles errors with
        `self.exception_handlers` for every route (Starlette's own error and exception
        middleware are not used: the dispatcher does their work)."""
        self.dispatcher.refresh()
        app: ASGIApp = self.dispatcher
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


async def openapi_document(request: Request) -> Response:
    return Response(served_by(request).simulator.spec.document_bytes, media_type="application/json")


ROUTES = [
    Route("/v1/videos/generations", vendor.create_video_generation, methods=["POST"]),
    # the gateway's routes the vendor's client calls (before the task query's `{task_id}`)
    Route("/v1/tasks", gateway.list_tasks, methods=["GET"]),
    Route("/v1/tasks/batch", gateway.batch_tasks, methods=["POST"]),
    Route("/v1/tasks/batch", gateway.batch_is_posted, methods=["GET"]),
    Route("/v1/models", gateway.list_models, methods=["GET"]),
    Route("/web/api/models/pricing", gateway.model_pricing, methods=["GET"]),
    Route("/v1/catalog/pricing-rules", gateway.pricing_rules, methods=["GET"]),
    Route("/v1/tasks/{task_id}", vendor.get_task_detail, methods=["GET"]),
    Route("/v1/credits", vendor.get_credits, methods=["GET"]),
    *files.ROUTES,  # the files API, and the bytes at each file's URL
    Route("/openapi.json", openapi_document, methods=["GET"]),
    Route("/_mock/videos/{task_id}.mp4", vendor.result_video, methods=["GET"]),
    Route("/_mock/health", admin.health, methods=["GET"]),
    Route("/_mock/clock", admin.clock, methods=["GET"]),
    Route("/_mock/clock/advance", admin.clock_advance, methods=["POST"]),
    Route("/_mock/scenarios", admin.scenarios, methods=["GET"]),
    Route("/_mock/faults", admin.list_faults, methods=["GET"]),
    Route("/_mock/faults", admin.add_fault, methods=["POST"]),
    Route("/_mock/faults", admin.clear_faults, methods=["DELETE"]),
    Route("/_mock/faults/{fault_id}", admin.delete_fault, methods=["DELETE"]),
    Route("/_mock/requests", admin.journal, methods=["GET"]),
    Route("/_mock/accounts", admin.accounts, methods=["GET"]),
    Route("/_mock/callbacks", admin.list_callbacks, methods=["GET"]),
    Route("/_mock/callbacks/{task_id}/replay", admin.replay_callback, methods=["POST"]),
    Route("/_mock/tasks/{task_id}/cancel", admin.cancel_task, methods=["POST"]),
    Route("/_mock/reset", admin.reset, methods=["POST"]),
    Route("/_mock/metrics", metrics.metrics, methods=["GET"]),
    *UI_ROUTES,  # the dashboard: /_mock/ui, /_mock/tasks, /_mock/files
]


def create_app(settings: Settings | None = None, *, simulator: Simulator | None = None) -> MockApp:
    """A new application with its own simulator: apps share no state. A model whose frame
    sizes have no result video is refused here (`ModelFileError`), before anything is served."""
    sim = simulator or Simulator(settings)
    vendor.check_videos(sim.models)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worlds = app.worlds if isinstance(app, MockApp) else None
        if worlds is None:  # pragma: no cover - the app is always a MockApp
            raise TypeError("create_app's lifespan runs a MockApp")
        await worlds.start()  # open the stores; what fell due while the server was down runs
        yield
        await worlds.aclose()  # in-flight requests have been drained: stores close last

    app = MockApp(
        sim, routes=list(ROUTES), exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )
    if sim.settings.admin_token is not None:
        app.add_middleware(AdminAuth, token=sim.settings.admin_token, spec=sim.spec)
    return app
