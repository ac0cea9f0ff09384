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

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DROPPED = "frames_dropped_"


class Histogram:
    """A plain cumulative-at-scrape histogram for hot paths: :meth:`observe` is one bisect
    and two adds, no prometheus object. ``bounds`` are the buckets' upper bounds in the
    unit of the observations (the metric's name says which)."""

    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ending with ``+Inf``."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((repr(float(bound)), float(running)))
        out.append(("+Inf", float(self.count)))
        return out


LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.5, 1.0)
"""Seconds: frame latency and tick duration buckets (the relay's target is p99 < 100 ms)."""


@dataclass(frozen=True, slots=True)
class MetricSources:
    """What the collector reads: named stats counters, named gauges (callables) and named
    histograms ``name -> (help, histogram)``."""

    node_id: str
    counters: Mapping[str, Callable[[], Mapping[str, int]]]
    gauges: Mapping[str, tuple[str, Callable[[], float]]]  # name -> (help, read)
    histograms: Mapping[str, tuple[str, Histogram]] = field(default_factory=dict)


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
        for name, (help_, hist) in self._sources.histograms.items():
            histogram = HistogramMetricFamily(f"studyverse_{name}", help_,
                                              labels=["node_id"])
            histogram.add_metric([node], hist.buckets(), hist.total)
            yield histogram


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
