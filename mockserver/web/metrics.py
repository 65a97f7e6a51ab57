"""`GET /_mock/metrics`: the simulator's counts in the Prometheus text format, written by
`prometheus_client` from a registry of the app's own (never the process-wide one: two apps in
one process, as in the tests, keep their numbers apart). `prometheus_client` is imported at the
first scrape: `serve` starts without it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..service.metrics import LATENCY_BUCKETS, MetricsSnapshot
from .requests import world_key, worlds

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric


class SnapshotCollector:
    """Writes the snapshot it was last given; the route sets it and renders in one step (no
    await in between), so two scrapes never see each other's."""

    def __init__(self) -> None:
        self.snapshot: MetricsSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        snap = self.snapshot
        if snap is None:
            return
        requests = CounterMetricFamily(
            "evolink_mock_requests",
            "Answers of the vendor's API, by the spec's operationId and HTTP status.",
            labels=["operation", "status"],
        )
        for (operation, status), count in sorted(snap.requests.items()):
            requests.add_metric([operation, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "evolink_mock_request_duration_seconds",
            "Real seconds from reading a request of the vendor's API to its answer.",
            labels=["operation"],
        )
        for operation, (counts, total) in sorted(snap.latency.items()):
            cumulative, buckets = 0, []
            for bound, in_bucket in zip([*map(str, LATENCY_BUCKETS), "+Inf"], counts, strict=True):
                cumulative += in_bucket
                buckets.append((bound, float(cumulative)))
            latency.add_metric([operation], buckets, total)
        yield latency
        tasks = GaugeMetricFamily(
            "evolink_mock_tasks", "Tasks by their model and status now.", labels=["model", "status"]
        )
        for (model, task_status), in_status in snap.tasks.items():
            tasks.add_metric([model, task_status], in_status)
        yield tasks
        attempts = CounterMetricFamily(
            "evolink_mock_callback_attempts",
            "Callback attempts by outcome: success (2xx), http_error, timeout, error.",
            labels=["outcome"],
        )
        for outcome, count in sorted(snap.callback_attempts.items()):
            attempts.add_metric([outcome], count)
        yield attempts
        takeovers = CounterMetricFamily(
            "evolink_mock_callback_takeovers",
            "Callback deliveries this process took over from one whose lease lapsed (a shared "
            "store): their attempt in flight is sent again, so the receiver may see it twice.",
        )
        takeovers.add_metric([], snap.callback_takeovers)
        yield takeovers
        replays = CounterMetricFamily(
            "evolink_mock_idempotent_replays",
            "Creates answered with the task their Idempotency-Key was already bound to (no new "
            "task, no new charge).",
        )
        replays.add_metric([], snap.idempotent_replays)
        yield replays


class AppMetrics:
    """An app's registry and the collector in it (made at the first scrape)."""

    def __init__(self) -> None:
        self.collector = SnapshotCollector()
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(self.collector)
        return self._registry

    def render(self, snapshot: MetricsSnapshot) -> bytes:
        from prometheus_client import generate_latest

        self.collector.snapshot = snapshot
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    snapshot = await worlds(request).metrics(world_key(request))
    body = request.scope["app"].metrics.render(snapshot)
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(body, media_type=CONTENT_TYPE_LATEST)
