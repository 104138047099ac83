"""node/metrics.py: the exposition parses back strictly, with the meaning put in."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.metrics import CONTENT_TYPE, Registry

# -- a small strict parser of the text format 0.0.4 -------------------------------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


class ParseError(Exception):
    pass


@dataclass
class Family:
    help: str
    type: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> dict[str, Family]:
    """Families by name; raises ParseError on anything the spec does not allow."""
    if not text.endswith("\n"):
        raise ParseError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    current: str | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            if not _NAME.fullmatch(name) or name in families:
                raise ParseError(f"bad or repeated HELP: {line!r}")
            families[name] = Family(_unescape(help_text, '\\n'))
            current = name
        elif line.startswith("# TYPE "):
            name, _, type_name = line[len("# TYPE "):].partition(" ")
            if name != current or families[name].type or type_name not in _SUFFIXES:
                raise ParseError(f"TYPE not right after its HELP: {line!r}")
            families[name].type = type_name
        else:
            if current is None or not families[current].type:
                raise ParseError(f"sample outside a family: {line!r}")
            name, labels, value = _parse_sample(line)
            if name not in {current + suffix for suffix in _SUFFIXES[families[current].type]}:
                raise ParseError(f"sample {name} in family {current}")
            families[current].samples.append((name, labels, value))
    return families


def _parse_sample(line: str) -> tuple[str, dict[str, str], float]:
    match = _NAME.match(line)
    if match is None:
        raise ParseError(f"no metric name: {line!r}")
    name, position = match.group(), match.end()
    labels: dict[str, str] = {}
    if line[position:position + 1] == "{":
        position += 1
        while line[position] != "}":
            label = _LABEL.match(line, position)
            if label is None or line[label.end():label.end() + 2] != '="':
                raise ParseError(f"bad label at {position}: {line!r}")
            position = label.end() + 2
            chars: list[str] = []
            while line[position] != '"':
                if line[position] == "\\":
                    chars.append({"\\": "\\", '"': '"', "n": "\n"}[line[position + 1]])
                    position += 2
                else:
                    chars.append(line[position])
                    position += 1
            if label.group() in labels:
                raise ParseError(f"repeated label: {line!r}")
            labels[label.group()] = "".join(chars)
            position += 1
            if line[position] == ",":
                position += 1
        position += 1
    if line[position:position + 1] != " ":
        raise ParseError(f"no space before the value: {line!r}")
    return name, labels, _parse_value(line[position + 1:])


def _parse_value(text: str) -> float:
    special = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    if not _NUMBER.fullmatch(text):
        raise ParseError(f"bad value {text!r}")
    return float(text)


def _unescape(text: str, allowed: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\n":
            raise ParseError("raw newline")
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        if escaped == "\\":
            out.append("\\")
        elif escaped == "n" and "n" in allowed:
            out.append("\n")
        else:
            raise ParseError(f"bad escape \\{escaped}")
    return "".join(out)


def _value(families: dict[str, Family], family: str, name: str, **labels: str) -> float:
    samples = families[family].samples
    matches = [value for sample, found, value in samples if sample == name and found == labels]
    assert len(matches) == 1, (name, labels, families[family].samples)
    return matches[0]


# -- the exposition -------------------------------------------------------------


def test_exact_text_of_a_small_registry() -> None:
    registry = Registry()
    requests = registry.counter("api_requests_total", "Requests served.", ("route", "status"))
    registry.gauge("chain_height", "Last committed height.", read=lambda: 42)
    latency = registry.histogram("api_latency_seconds", "Request latency.", (0.01, 0.1, 1.0))
    requests.labels(status="429", route="/tx").inc()
    requests.labels(route="/tx", status="200").inc(2)
    latency.observe(0.05)
    latency.observe(0.1)
    latency.observe(3)

    assert registry.render() == (
        "# HELP api_requests_total Requests served.\n"
        "# TYPE api_requests_total counter\n"
        'api_requests_total{route="/tx",status="200"} 2\n'
        'api_requests_total{route="/tx",status="429"} 1\n'
        "# HELP chain_height Last committed height.\n"
        "# TYPE chain_height gauge\n"
        "chain_height 42\n"
        "# HELP api_latency_seconds Request latency.\n"
        "# TYPE api_latency_seconds histogram\n"
        'api_latency_seconds_bucket{le="0.01"} 0\n'
        'api_latency_seconds_bucket{le="0.1"} 2\n'
        'api_latency_seconds_bucket{le="1"} 2\n'
        'api_latency_seconds_bucket{le="+Inf"} 3\n'
        "api_latency_seconds_sum 3.15\n"
        "api_latency_seconds_count 3\n"
    )
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_escaping_of_help_and_label_values_exactly() -> None:
    registry = Registry()
    counter = registry.counter("x_total", 'back\\slash "quoted"\nsecond line', ("path",))
    counter.labels(path='C:\\dir "a"\nb').inc()
    assert registry.render() == (
        '# HELP x_total back\\\\slash "quoted"\\nsecond line\n'
        "# TYPE x_total counter\n"
        'x_total{path="C:\\\\dir \\"a\\"\\nb"} 1\n'
    )


@given(help_text=st.text(), values=st.lists(st.text(), min_size=1, max_size=5, unique=True))
def test_any_help_and_label_value_parse_back_unchanged(help_text: str, values: list[str]) -> None:
    registry = Registry()
    gauge = registry.gauge("g", help_text, ("v",))
    for index, value in enumerate(values):
        gauge.labels(v=value).set(index)
    families = parse(registry.render())
    assert families["g"].help == help_text
    assert {labels["v"]: value for _, labels, value in families["g"].samples} == {
        value: index for index, value in enumerate(values)
    }


def test_samples_are_sorted_whatever_the_order_of_creation() -> None:
    texts = set()
    for order in (["b", "a", "c"], ["c", "b", "a"], ["a", "c", "b"]):
        registry = Registry()
        counter = registry.counter("c_total", "c", ("k",))
        for key in order:
            counter.labels(k=key).inc()
        texts.add(registry.render())
    (text,) = texts
    assert [line.split('"')[1] for line in text.splitlines()[2:]] == ["a", "b", "c"]


def test_special_values() -> None:
    registry = Registry()
    gauges = [registry.gauge(f"g{index}", "g") for index in range(4)]
    for gauge, value in zip(gauges, (math.inf, -math.inf, math.nan, -2.5)):
        gauge.set(value)
    lines = [line for line in registry.render().splitlines() if not line.startswith("#")]
    assert lines == ["g0 +Inf", "g1 -Inf", "g2 NaN", "g3 -2.5"]


def test_an_unlabelled_metric_shows_zero_and_a_labelled_one_no_sample_before_use() -> None:
    registry = Registry()
    registry.counter("plain_total", "p")
    registry.counter("labelled_total", "l", ("k",))
    families = parse(registry.render())
    assert families["plain_total"].samples == [("plain_total", {}, 0.0)]
    assert families["labelled_total"].samples == []


# -- counters -------------------------------------------------------------------


@given(st.lists(st.one_of(st.integers(-5, 5), st.floats(-10, 10, allow_nan=False)), max_size=30))
def test_counters_only_go_up(increments: list[float]) -> None:
    registry = Registry()
    counter = registry.counter("c_total", "c")
    previous = 0.0
    for amount in increments:
        before = registry.render()
        if amount < 0:
            with pytest.raises(ValueError):
                counter.inc(amount)
            assert registry.render() == before
        else:
            counter.inc(amount)
        value = _value(parse(registry.render()), "c_total", "c_total")
        assert value >= previous
        previous = value
    assert previous == counter.value


def test_counter_refuses_nan_and_infinity() -> None:
    counter = Registry().counter("c_total", "c")
    for amount in (math.nan, math.inf):
        with pytest.raises(ValueError):
            counter.inc(amount)
    assert counter.value == 0


# -- histograms -----------------------------------------------------------------


@given(
    bounds=st.lists(
        st.floats(-100, 100, allow_nan=False), min_size=1, max_size=6, unique=True
    ).map(sorted),
    observations=st.lists(st.floats(-1000, 1000, allow_nan=False), max_size=40),
)
def test_histogram_buckets_are_cumulative_and_inf_equals_count(
    bounds: list[float], observations: list[float]
) -> None:
    registry = Registry()
    histogram = registry.histogram("h", "h", tuple(bounds))
    for value in observations:
        histogram.observe(value)
    samples = parse(registry.render())["h"].samples
    buckets = [(labels["le"], value) for name, labels, value in samples if name == "h_bucket"]
    assert buckets[-1][0] == "+Inf"
    counts = [value for _, value in buckets]
    assert counts == sorted(counts)
    for (le, count), bound in zip(buckets, bounds):
        assert float(le) == bound
        assert count == sum(1 for value in observations if value <= bound)
    count = _value(parse(registry.render()), "h", "h_count")
    assert buckets[-1][1] == count == len(observations)
    total = 0.0
    for value in observations:  # in order, as the histogram adds them
        total += value
    assert _value(parse(registry.render()), "h", "h_sum") == total


def test_histogram_with_labels_and_explicit_inf_bound() -> None:
    registry = Registry()
    histogram = registry.histogram("h", "h", (1.0, math.inf), ("peer",))
    histogram.labels(peer="p1").observe(0.5)
    histogram.labels(peer="p2").observe(2)
    families = parse(registry.render())
    assert _value(families, "h", "h_bucket", peer="p1", le="1") == 1
    assert _value(families, "h", "h_bucket", peer="p2", le="1") == 0
    assert _value(families, "h", "h_bucket", peer="p2", le="+Inf") == 1
    assert [name for name, _, _ in families["h"].samples].count("h_bucket") == 4


@pytest.mark.parametrize(
    "buckets", [(), (math.inf,), (1.0, 1.0), (2.0, 1.0), (math.nan,), (-math.inf, 1.0)]
)
def test_bad_buckets_refused(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Registry().histogram("h", "h", buckets)


def test_histogram_refuses_nan_observation() -> None:
    histogram = Registry().histogram("h", "h", (1.0,))
    with pytest.raises(ValueError):
        histogram.observe(math.nan)
    assert histogram.count == 0


# -- gauges ---------------------------------------------------------------------


def test_gauge_set_inc_dec() -> None:
    gauge = Registry().gauge("g", "g")
    gauge.set(10)
    gauge.inc(2.5)
    gauge.dec()
    assert gauge.value == 11.5


def test_callback_gauge_is_read_at_render_time() -> None:
    registry = Registry()
    mempool = [3]
    gauge = registry.gauge("mempool_size", "m", read=lambda: mempool[0])
    assert _value(parse(registry.render()), "mempool_size", "mempool_size") == 3
    mempool[0] = 7
    assert _value(parse(registry.render()), "mempool_size", "mempool_size") == 7
    for change in (lambda: gauge.set(1), gauge.inc, gauge.dec):
        with pytest.raises(ValueError):
            change()
    with pytest.raises(ValueError):
        registry.gauge("labelled", "l", ("k",), read=lambda: 1)


def test_a_failing_callback_loses_only_its_own_sample(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    registry.gauge("broken", "b", read=lambda: 1 / 0)
    registry.counter("fine_total", "f").inc()
    families = parse(registry.render())
    assert families["broken"].samples == []
    assert _value(families, "fine_total", "fine_total") == 1
    assert "broken" in caplog.text


# -- names and labels -----------------------------------------------------------


def test_duplicate_and_colliding_names_are_refused_and_change_nothing() -> None:
    registry = Registry()
    registry.counter("x_total", "x")
    registry.histogram("h", "h", (1.0,))
    before = registry.render()
    for make in (
        lambda: registry.counter("x_total", "again"),
        lambda: registry.gauge("x_total", "as a gauge"),
        lambda: registry.counter("h_count", "a histogram's sample"),
        lambda: registry.gauge("h_bucket", "a histogram's sample"),
        lambda: registry.histogram("h", "h", (2.0,)),
    ):
        with pytest.raises(ValueError):
            make()
    registry.counter("y_sum", "y")
    with pytest.raises(ValueError):
        registry.histogram("y", "a histogram whose _sum is taken", (1.0,))
    assert registry.render() == before + "# HELP y_sum y\n# TYPE y_sum counter\ny_sum 0\n"


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é", "a.b"])
def test_invalid_metric_names_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Registry().counter(name, "n")


@pytest.mark.parametrize(
    "labelnames", [("1a",), ("a-b",), ("__reserved",), ("a", "a"), "ab", ("a:b",)]
)
def test_invalid_label_names_refused(labelnames: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Registry().counter("c_total", "c", labelnames)


def test_le_is_reserved_in_histograms_only() -> None:
    with pytest.raises(ValueError):
        Registry().histogram("h", "h", (1.0,), ("le",))
    Registry().gauge("g", "g", ("le",)).labels(le="x").set(1)


def test_labels_must_be_exactly_the_declared_ones() -> None:
    counter = Registry().counter("c_total", "c", ("a", "b"))
    for wrong in ({"a": "1"}, {"a": "1", "b": "2", "c": "3"}, {"a": "1", "c": "2"}):
        with pytest.raises(ValueError):
            counter.labels(**wrong)
    with pytest.raises(ValueError):
        counter.labels(a="1", b=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        counter.inc()  # a labelled family has no value of its own
    with pytest.raises(ValueError):
        Registry().counter("plain_total", "p").labels(a="1")
    assert counter.labels(a="1", b="2") is counter.labels(b="2", a="1")


@pytest.mark.parametrize(
    "text",
    [
        "# HELP a x\n# TYPE a gauge\na 1",  # no final newline
        "# HELP a x\n# TYPE a gauge\na{k=\"\\t\"} 1\n",  # unknown escape
        "# HELP a x\n# TYPE a gauge\nb 1\n",  # sample of another family
        "# HELP a x\na 1\n",  # no TYPE
        "# HELP a x\n# TYPE a gauge\na 1.2.3\n",
        "# HELP a x\n# TYPE a counter\n# HELP a y\n# TYPE a counter\n",
    ],
)
def test_the_test_parser_is_strict(text: str) -> None:
    with pytest.raises((ParseError, KeyError)):
        parse(text)
