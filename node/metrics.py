"""Prometheus metrics in the text exposition format 0.0.4, without a dependency.

The node exposes a few counters, gauges and histograms on `GET /metrics`. The
format is small and stable, so it is written here rather than pulled in.
What this module guarantees:

* `Registry.render()` is deterministic: families in the order they were
  registered, the samples of a labelled family sorted by their label values,
  labels in the order the family declared them (`le` last in histograms).
* Names are checked when a metric is made: metric names match
  `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` and may
  not start with `__` (reserved by Prometheus); a histogram may not use `le`.
  A registry refuses two families whose sample names would collide (a
  histogram `x` owns `x_bucket`, `x_sum` and `x_count`).
* Escaping follows the spec: in `# HELP` text a backslash becomes `\\\\` and a
  newline `\\n`; in label values the double quote also becomes `\\"`.
* Counters only go up; a histogram's `_bucket` samples are cumulative and
  its `+Inf` bucket always equals its `_count`.

Programming mistakes (a bad name, a duplicate, a negative counter increment,
the wrong label names) raise `ValueError` at once: they are bugs in the node,
not input from users or peers. Metrics are not thread-safe: they belong to
the event loop's thread, like the rest of the node shell.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

#: What one sample looks like before formatting: name suffix, extra labels, value.
_Sample = tuple[str, tuple[tuple[str, str], ...], float]


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, `3`, `0.25`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def validate_metric_name(name: str) -> None:
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise ValueError(f"invalid metric name {name!r}: expected [a-zA-Z_:][a-zA-Z0-9_:]*")


def validate_label_names(
    labelnames: Sequence[str], *, reserved: frozenset[str] = frozenset()
) -> None:
    if isinstance(labelnames, str):
        raise ValueError(f"labelnames must be a sequence of names, not the string {labelnames!r}")
    for label in labelnames:
        if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label):
            raise ValueError(f"invalid label name {label!r}: expected [a-zA-Z_][a-zA-Z0-9_]*")
        if label.startswith("__"):
            raise ValueError(f"label name {label!r}: names starting with '__' are reserved")
        if label in reserved:
            raise ValueError(f"label name {label!r} is reserved for this metric type")
    if len(set(labelnames)) != len(labelnames):
        raise ValueError(f"duplicate label names in {tuple(labelnames)!r}")


class CounterChild:
    """One time series of a counter: a value that only goes up."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if not amount >= 0 or math.isinf(amount):  # also refuses NaN
            raise ValueError(f"a counter only goes up by a finite amount >= 0, not {amount!r}")
        self._value += amount

    @property
    def value(self) -> float:
        return self._value

    def _samples(self) -> Iterator[_Sample]:
        yield ("", (), self._value)


class GaugeChild:
    """One time series of a gauge: a value that goes up and down."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        self._value -= amount

    @property
    def value(self) -> float:
        return self._value

    def _samples(self) -> Iterator[_Sample]:
        yield ("", (), self._value)


class HistogramChild:
    """One time series of a histogram: counts of observations per upper bound."""

    __slots__ = ("_bounds", "_counts", "_sum", "_count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds  # finite, strictly increasing; +Inf is implicit
        self._counts = [0] * len(bounds)  # per bucket, not cumulative
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        if math.isnan(value):
            raise ValueError("a histogram cannot observe NaN")
        for index, bound in enumerate(self._bounds):
            if value <= bound:
                self._counts[index] += 1
                break
        self._sum += value
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    @property
    def sum(self) -> float:
        return self._sum

    def _samples(self) -> Iterator[_Sample]:
        cumulative = 0
        for bound, count in zip(self._bounds, self._counts):
            cumulative += count
            yield ("_bucket", (("le", format_value(bound)),), cumulative)
        yield ("_bucket", (("le", "+Inf"),), self._count)
        yield ("_sum", (), self._sum)
        yield ("_count", (), self._count)


_Child = TypeVar("_Child", CounterChild, GaugeChild, HistogramChild)


class _Family(Generic[_Child]):
    """A metric name with its help, type and one child per label set."""

    type_name = ""
    suffixes: tuple[str, ...] = ("",)
    reserved_labels: frozenset[str] = frozenset()

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        validate_metric_name(name)
        if not isinstance(help, str):
            raise ValueError(f"help of {name} must be a string")
        validate_label_names(labelnames, reserved=self.reserved_labels)
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _Child] = {}
        if not self.labelnames:
            self._children[()] = self._new_child()

    def _new_child(self) -> _Child:
        raise NotImplementedError

    def labels(self, **values: str) -> _Child:
        """The child for these label values, made on first use."""
        if not self.labelnames:
            raise ValueError(f"{self.name} has no labels")
        if set(values) != set(self.labelnames):
            raise ValueError(
                f"{self.name} takes labels {sorted(self.labelnames)}, got {sorted(values)}"
            )
        key = tuple(values[label] for label in self.labelnames)
        for label, value in zip(self.labelnames, key):
            if not isinstance(value, str):
                raise ValueError(f"label {label} of {self.name} must be a str, got {value!r}")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    @property
    def _only_child(self) -> _Child:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}: use .labels(...)")
        return self._children[()]

    def sample_names(self) -> tuple[str, ...]:
        return tuple(self.name + suffix for suffix in self.suffixes)

    def render(self) -> str:
        lines = [
            f"# HELP {self.name} {escape_help(self.help)}",
            f"# TYPE {self.name} {self.type_name}",
        ]
        for key, samples in self._collect():
            base = tuple(zip(self.labelnames, key))
            for suffix, extra, value in samples:
                labels = _format_labels(base + extra)
                lines.append(f"{self.name}{suffix}{labels} {format_value(value)}")
        return "\n".join(lines) + "\n"

    def _collect(self) -> Iterator[tuple[tuple[str, ...], Iterator[_Sample]]]:
        for key in sorted(self._children):
            yield key, self._children[key]._samples()


class Counter(_Family[CounterChild]):
    type_name = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        self._only_child.inc(amount)

    @property
    def value(self) -> float:
        return self._only_child.value


class Gauge(_Family[GaugeChild]):
    """A gauge, either set by the node or, with `read`, read at render time.

    A `read` gauge (height, mempool size, peer count) costs nothing between
    scrapes. If `read` raises, the error is logged and the gauge is rendered
    without a sample, so one broken reading never hides the other metrics.
    """

    type_name = "gauge"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        read: Callable[[], float] | None = None,
    ) -> None:
        if read is not None and labelnames:
            raise ValueError(f"gauge {name}: a gauge with `read` cannot have labels")
        super().__init__(name, help, labelnames)
        self._read = read

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def set(self, value: float) -> None:
        self._settable_child.set(value)

    def inc(self, amount: float = 1.0) -> None:
        self._settable_child.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._settable_child.dec(amount)

    @property
    def value(self) -> float:
        if self._read is not None:
            return float(self._read())
        return self._only_child.value

    @property
    def _settable_child(self) -> GaugeChild:
        if self._read is not None:
            raise ValueError(f"gauge {self.name} is read by a callback and cannot be set")
        return self._only_child

    def _collect(self) -> Iterator[tuple[tuple[str, ...], Iterator[_Sample]]]:
        if self._read is None:
            yield from super()._collect()
            return
        try:
            value = float(self._read())
        except Exception:
            logger.exception(
                "metrics: reading gauge %s failed; rendered without a sample", self.name
            )
            return
        yield (), iter([("", (), value)])


class Histogram(_Family[HistogramChild]):
    """Observations counted under upper bounds; `+Inf` is always added as the last bound."""

    type_name = "histogram"
    suffixes = ("_bucket", "_sum", "_count")
    reserved_labels = frozenset({"le"})

    def __init__(
        self, name: str, help: str, buckets: tuple[float, ...], labelnames: Sequence[str] = ()
    ) -> None:
        self.bounds = _validate_buckets(name, buckets)
        super().__init__(name, help, labelnames)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def observe(self, value: float) -> None:
        self._only_child.observe(value)

    @property
    def count(self) -> int:
        return self._only_child.count

    @property
    def sum(self) -> float:
        return self._only_child.sum


def _validate_buckets(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = [float(bound) for bound in buckets]
    if bounds and bounds[-1] == math.inf:
        bounds.pop()
    if not bounds:
        raise ValueError(f"histogram {name} needs at least one finite bucket bound")
    if any(not math.isfinite(bound) for bound in bounds):
        raise ValueError(f"histogram {name}: bucket bounds must be finite (+Inf is implicit)")
    if any(low >= high for low, high in zip(bounds, bounds[1:])):
        raise ValueError(f"histogram {name}: bucket bounds must be strictly increasing")
    return tuple(bounds)


def _format_labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs) + "}"


_F = TypeVar("_F", Counter, Gauge, Histogram)


class Registry:
    """The node's metric families, rendered together for one scrape."""

    def __init__(self) -> None:
        self._families: list[Counter | Gauge | Histogram] = []
        self._sample_names: set[str] = set()

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._register(Counter(name, help, labelnames))

    def gauge(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        read: Callable[[], float] | None = None,
    ) -> Gauge:
        return self._register(Gauge(name, help, labelnames, read=read))

    def histogram(
        self, name: str, help: str, buckets: tuple[float, ...], labelnames: Sequence[str] = ()
    ) -> Histogram:
        return self._register(Histogram(name, help, buckets, labelnames))

    def _register(self, family: _F) -> _F:
        names = set(family.sample_names()) | {family.name}
        taken = names & self._sample_names
        if taken:
            raise ValueError(f"metric {family.name}: name(s) {sorted(taken)} already registered")
        self._sample_names |= names
        self._families.append(family)
        return family

    def render(self) -> str:
        """The whole exposition, as served with `CONTENT_TYPE`."""
        return "".join(family.render() for family in self._families)
