"""Counters and histograms for one process, kept in plain Python and read when scraped.

prometheus-client's own take a lock per increment (a few microseconds each on the token
endpoint's path, bench/README.md); one process's figures change only on its event loop,
so here an increment is an addition and the scrape (another thread, for a separate
listener) reads the numbers as they stand. Same constructor and ``labels()``, ``inc()``,
``observe()`` as prometheus-client's, so ``Metrics`` takes either; under
``serve --workers N`` it takes prometheus-client's, whose values live in the shared files.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class Buckets:
    """One histogram series: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        # One more than the bounds: the +Inf bucket.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound
        # not below the value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


# A family's series (one per set of label values) and the prometheus-client family a
# scrape reports them in.
S = TypeVar("S", Count, Buckets)
F = TypeVar("F", CounterMetricFamily, HistogramMetricFamily)


class _Family(Collector, Generic[S, F]):
    _metric_family: type[F]

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], S] = {}
        if not self.labelnames:
            self._series[()] = self._new_series()
        if registry is not None:
            registry.register(self)

    def _new_series(self) -> S:
        raise NotImplementedError

    def _add_metric(self, family: F, values: tuple[str, ...], series: S) -> None:
        raise NotImplementedError

    def labels(self, *values: str) -> S:
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
            series = self._series[values] = self._new_series()
        return series

    def describe(self) -> list[F]:
        return [self._metric_family(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[F]:
        family = self._metric_family(self.name, self.documentation, labels=self.labelnames)
        # A copy: the event loop may add a series while another thread scrapes.
        for values, series in list(self._series.items()):
            self._add_metric(family, values, series)
        yield family


class PlainCounter(_Family[Count, CounterMetricFamily]):
    _metric_family = CounterMetricFamily

    def inc(self, amount: float = 1.0) -> None:
        self._series[()].inc(amount)

    def _new_series(self) -> Count:
        return Count()

    def _add_metric(
        self, family: CounterMetricFamily, values: tuple[str, ...], series: Count
    ) -> None:
        family.add_metric(values, series.value)


class PlainHistogram(_Family[Buckets, HistogramMetricFamily]):
    _metric_family = HistogramMetricFamily

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = (),
    ) -> None:
        self._bounds = tuple(float(bound) for bound in buckets)
        if not self._bounds or list(self._bounds) != sorted(set(self._bounds)):
            raise ValueError(f"{name}: buckets must be increasing")
        self._les = [*(floatToGoString(bound) for bound in self._bounds), "+Inf"]
        super().__init__(name, documentation, labelnames, registry)

    def observe(self, value: float) -> None:
        self._series[()].observe(value)

    def _new_series(self) -> Buckets:
        return Buckets(self._bounds)

    def _add_metric(
        self, family: HistogramMetricFamily, values: tuple[str, ...], series: Buckets
    ) -> None:
        # The count is the +Inf bucket's, so the two always agree, mid-request or not.
        counts, total, cumulative = list(series.counts), series.sum, 0
        buckets = []
        for le, count in zip(self._les, counts, strict=True):
            cumulative += count
            buckets.append((le, float(cumulative)))
        family.add_metric(values, buckets, total)
