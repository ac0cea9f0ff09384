"""Prometheus metrics at ``GET /metrics`` (prometheus-client, text format 0.0.4).

No global registry: each app owns a ``CollectorRegistry`` with one collector that reads,
at scrape time, the plain ``collections.Counter`` stats the services already keep (the
hot paths never touch a prometheus object) and a few gauges. Every sample carries the
``node_id`` label, so one Prometheus can scrape every node.

Names: a stat ``frames_dropped_<reason>`` becomes ``studyverse_frames_dropped_total{reason}``;
any other stat ``<name>`` of source ``<source>`` (relay, realtime, game, awards,
interruptions) becomes ``studyverse_<name>_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DROPPED = "frames_dropped_"


@dataclass(frozen=True, slots=True)
class MetricSources:
    """What the collector reads: named stats counters and named gauges (callables)."""

    node_id: str
    counters: Mapping[str, Callable[[], Mapping[str, int]]]
    gauges: Mapping[str, tuple[str, Callable[[], float]]]  # name -> (help, read)


class StatsCollector(Collector):
    """Turns the services' stats counters and gauges into Prometheus metric families."""

    def __init__(self, sources: MetricSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        node = self._sources.node_id
        dropped = CounterMetricFamily("studyverse_frames_dropped",
                                      "avatar frames not relayed, by reason",
                                      labels=["node_id", "reason"])
        totals: dict[str, int] = {}
        helps: dict[str, str] = {}
        for source, read in self._sources.counters.items():
            for name, value in read().items():
                if name.startswith(DROPPED):
                    dropped.add_metric([node, name[len(DROPPED):]], value)
                    continue
                totals[name] = totals.get(name, 0) + value
                helps[name] = f"{name.replace('_', ' ')} ({source})"
        yield dropped
        for name in sorted(totals):
            family = CounterMetricFamily(f"studyverse_{name}", helps[name],
                                         labels=["node_id"])
            family.add_metric([node], totals[name])
            yield family
        for name, (help_, read_gauge) in self._sources.gauges.items():
            gauge = GaugeMetricFamily(f"studyverse_{name}", help_, labels=["node_id"])
            gauge.add_metric([node], read_gauge())
            yield gauge


REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


def make_registry(sources: MetricSources) -> CollectorRegistry:
    """A private registry (no process-global state) collecting ``sources``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(sources))
    return registry


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the app's registry (503 until the services have started)."""
    registry = request.app.get(REGISTRY)
    if registry is None:
        return web.Response(status=503, text="starting")
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})
