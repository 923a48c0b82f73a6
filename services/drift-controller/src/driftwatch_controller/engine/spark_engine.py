"""The Spark engine (`spec.engine: spark`): a check's per-column distributions computed by PySpark.

The numpy engine reduces every column to its distinct values and their counts before any statistic
(engine/drift_stats.py); here Spark computes those (value, count) pairs where the Parquet data lies
(file://, s3a://, any Hadoop file system), and the driver runs the same statistics, calibrated
thresholds, policy and status on them (engine/spark_stats.py). Counts are exact: categorical columns
always, numerical ones up to `spec.spark.exactDistinctLimit` distinct values. Above it a numerical
column is summarised by KLL sketches (Apache DataSketches), built per partition and merged here, and
read back as quantiles. `SparkMeasurer` is the numpy `Measurer` with its samples taken from Spark.

pyspark is imported only here, and this module only when a spec asks for Spark (it is the optional
`driftwatch-controller[spark]` extra; Spark 4 needs Java 17+).
"""

from __future__ import annotations

import math
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from driftwatch_capture import schema as capture

from driftwatch_controller.api.spec import DriftCheckSpec, SparkSpec
from driftwatch_controller.engine import datasets, spark_stats
from driftwatch_controller.engine.calibration import Calibrator
from driftwatch_controller.engine.columns import Columns
from driftwatch_controller.engine.drift_stats import Kind, is_drifted
from driftwatch_controller.engine.measure import ColumnResult, Measurer
from driftwatch_controller.engine.spark_stats import CountedSample

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Defaults a check needs whatever the spec says: no web UI in a check pod, instants compared in UTC.
# Spec conf wins over everything but these two.
_FIXED_CONF = {"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC"}
_DEFAULT_CONF = {
    "spark.app.name": "driftwatch-check",
    "spark.sql.shuffle.partitions": "8",
    # A check pod's log is read by people: no progress bars.
    "spark.ui.showConsoleProgress": "false",
}


class SparkError(Exception):
    """Spark could not read or summarise the data (one line, for the Error verdict)."""


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# Set by the chart's check.spark values (docs/kubernetes.md): the executors' image and ServiceAccount.
EXECUTOR_IMAGE_ENV = "DRIFTWATCH_SPARK_IMAGE"
EXECUTOR_SERVICE_ACCOUNT_ENV = "DRIFTWATCH_SPARK_EXECUTOR_SERVICE_ACCOUNT"


def session_conf(
    settings: SparkSpec, env: Mapping[str, str], pod_ip: str | None = None, namespace: str | None = None
) -> dict[str, str]:
    """The Spark properties of a check's session: the spec's, over defaults for its master.

    local[N]: the driver binds to SPARK_LOCAL_IP when set (127.0.0.1 in the tests). k8s://: spark-submit's
    client mode from the check pod, which is the driver: executors reach it at the pod's IP, are owned
    by the pod (garbage-collected with it) and run in its namespace, with the chart's image and
    ServiceAccount when it sets them.
    """
    conf = dict(_DEFAULT_CONF)
    local_ip = env.get("SPARK_LOCAL_IP")
    if settings.master.startswith("local") and local_ip:
        conf["spark.driver.host"] = local_ip
        conf["spark.driver.bindAddress"] = local_ip
    if settings.master.startswith("k8s://"):
        defaults = {
            "spark.submit.deployMode": "client",
            "spark.driver.host": pod_ip,
            "spark.kubernetes.driver.pod.name": env.get("HOSTNAME"),
            "spark.kubernetes.namespace": namespace,
            "spark.kubernetes.container.image": env.get(EXECUTOR_IMAGE_ENV),
            "spark.kubernetes.authenticate.executor.serviceAccountName": env.get(
                EXECUTOR_SERVICE_ACCOUNT_ENV
            ),
        }
        conf.update({k: v for k, v in defaults.items() if v})
    return {**conf, **settings.conf, **_FIXED_CONF}


def session(settings: SparkSpec) -> SparkSession:
    """The SparkSession of `settings.master` (an existing one in this process is reused)."""
    from pyspark.sql import SparkSession

    pod_ip = namespace = None
    if settings.master.startswith("k8s://"):
        pod_ip = socket.gethostbyname(socket.gethostname())  # a pod's hostname resolves to its IP
        ns_file = Path(SERVICE_ACCOUNT_NAMESPACE)
        namespace = ns_file.read_text().strip() if ns_file.is_file() else None
    else:
        # Python workers (the KLL sketches) run this interpreter, whose packages the driver has.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master)
    for key, value in session_conf(settings, os.environ, pod_ip, namespace).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_path(uri: str) -> str:
    """A URI as Hadoop's file systems name it: s3:// is Hadoop's s3a://, a bare path is file://."""
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    if "://" not in uri:
        return "file://" + os.path.abspath(uri)
    return uri


@dataclass(frozen=True)
class Source:
    """What one side of a check reads: Parquet paths, and the half-open ts window to keep (or all rows)."""

    paths: tuple[str, ...]
    window: datasets.Window | None = None


def current_source(
    uri: str, window: datasets.Window | None, skipped: Sequence[datasets.SkippedFile]
) -> Source:
    """The files the numpy engine read for this window (the same partitions, less the skipped files)."""
    if window is None or datasets.is_file_uri(uri):
        return Source((spark_path(uri),))
    protocol = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    root = uri[len(protocol) :].rstrip("/")
    skip = {s.name for s in skipped}
    paths = []
    for path in datasets.partition_files(uri, window):
        name = path[len(root) + 1 :] if path.startswith(f"{root}/") else path
        if name not in skip:
            paths.append(spark_path(protocol + path if protocol else path))
    return Source(tuple(paths), window)


def read(spark: SparkSession, source: Source) -> DataFrame:
    """The rows of `source` as a Spark DataFrame (only those in its window)."""
    from pyspark.sql import functions as sf

    if not source.paths:
        raise SparkError("no Parquet file to read")
    if any(p.lower().endswith((".csv", ".csv.gz")) for p in source.paths):
        raise SparkError("the Spark engine reads Parquet; convert the CSV reference to Parquet")
    frame = spark.read.parquet(*source.paths)
    if source.window is not None:
        ts = sf.col(capture.TS)
        frame = frame.where((ts >= sf.lit(source.window.start)) & (ts < sf.lit(source.window.end)))
    return frame


def _finite(column: Any) -> Any:
    from pyspark.sql import functions as sf

    value = column.cast("double")
    return sf.when(~sf.isnan(value) & (sf.abs(value) < sf.lit(math.inf)), value)


@dataclass
class _Profile:
    """One pass over a side: finite rows, approximate distinct values and moments per numerical column."""

    rows: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)


def _profile(frame: DataFrame, numerical: Sequence[str]) -> _Profile:
    from pyspark.sql import functions as sf

    aggregates = []
    for i, name in enumerate(numerical):
        v = _finite(sf.col(f"`{name}`"))
        aggregates += [
            sf.count(v).alias(f"n{i}"),
            sf.approx_count_distinct(v, 0.02).alias(f"d{i}"),
            sf.stddev_pop(v).alias(f"s{i}"),
            sf.min(v).alias(f"lo{i}"),
            sf.max(v).alias(f"hi{i}"),
        ]
    out = _Profile()
    if not aggregates:
        return out
    row = frame.agg(*aggregates).collect()[0].asDict()
    for i, name in enumerate(numerical):
        out.rows[name] = int(row[f"n{i}"])
        out.distinct[name] = int(row[f"d{i}"])
        out.std[name] = float(row[f"s{i}"] or 0.0)
        out.low[name] = float(row[f"lo{i}"] or 0.0)
        out.high[name] = float(row[f"hi{i}"] or 0.0)
    return out


def numerical_counts(frame: DataFrame, names: Sequence[str]) -> dict[str, CountedSample]:
    """Exact (value, count) pairs of finite values of every column in `names`, in one shuffle."""
    from pyspark.sql import functions as sf

    if not names:
        return {}
    pairs = sf.array(
        *[sf.struct(sf.lit(i).alias("c"), _finite(sf.col(f"`{n}`")).alias("v")) for i, n in enumerate(names)]
    )
    counted = (
        frame.select(sf.explode(pairs).alias("p"))
        .select("p.c", "p.v")
        .where(sf.col("v").isNotNull())
        .groupBy("c", "v")
        .count()
    )
    table = counted.toArrow()
    column = table.column("c").to_numpy()
    value = table.column("v").to_numpy()
    count = table.column("count").to_numpy().astype(np.int64)
    out = {}
    for i, name in enumerate(names):
        mine = column == i
        order = np.argsort(value[mine], kind="stable")
        out[name] = CountedSample.of_counts(value[mine][order], count[mine][order])
    return out


def _kll_partition(names: Sequence[str], k: int) -> Any:
    """The mapInArrow function: one serialized KLL sketch per column of each partition."""

    def build(batches: Iterator[Any]) -> Iterator[Any]:
        import datasketches
        import pyarrow as pa

        sketches = [datasketches.kll_doubles_sketch(k) for _ in names]
        for batch in batches:
            for i in range(len(names)):
                values = batch.column(i).to_numpy(zero_copy_only=False)
                values = values[np.isfinite(values)]
                if values.size:
                    sketches[i].update(values)
        yield pa.RecordBatch.from_pydict(
            {"c": list(range(len(names))), "sketch": [s.serialize() for s in sketches]},
            schema=pa.schema([("c", pa.int32()), ("sketch", pa.binary())]),
        )

    return build


def numerical_sketches(
    frame: DataFrame, names: Sequence[str], profile: _Profile, k: int
) -> dict[str, CountedSample]:
    """KLL sketches of `names` merged over every partition, as equal-mass CountedSamples."""
    import datasketches
    from pyspark.sql import functions as sf

    if not names:
        return {}
    doubles = frame.select(*[sf.col(f"`{n}`").cast("double").alias(f"c{i}") for i, n in enumerate(names)])
    rows = doubles.mapInArrow(_kll_partition(names, k), "c int, sketch binary").collect()
    merged = [datasketches.kll_doubles_sketch(k) for _ in names]
    for row in rows:
        merged[row["c"]].merge(datasketches.kll_doubles_sketch.deserialize(bytes(row["sketch"])))
    grid = spark_stats.rank_grid()
    ranks = spark_stats.midpoints(grid)
    out = {}
    for i, name in enumerate(names):
        sketch = merged[i]
        if sketch.is_empty():
            out[name] = CountedSample.of_counts(np.zeros(0), np.zeros(0, dtype=np.int64))
            continue
        quantiles = np.asarray(sketch.get_quantiles(ranks), dtype=np.float64)
        out[name] = spark_stats.from_quantiles(
            quantiles, grid, int(sketch.n), sketch.get_min_value(), sketch.get_max_value(), profile.std[name]
        )
    return out


def category_counts(frame: DataFrame, name: str) -> dict[str, int]:
    """Counts of a categorical column's values by their label (datasets.category_label), missing left out."""
    from pyspark.sql import functions as sf

    out: dict[str, int] = {}
    for row in frame.where(sf.col(f"`{name}`").isNotNull()).groupBy(f"`{name}`").count().collect():
        value = row[0]
        if isinstance(value, float) and math.isnan(value):
            continue  # pandas' factorize leaves NaN out, as missing
        label = datasets.category_label(value)
        out[label] = out.get(label, 0) + int(row["count"])
    return out


def categorical_samples(
    ref: Mapping[str, int], cur: Mapping[str, int]
) -> tuple[CountedSample, CountedSample]:
    """Both sides as codes into one sorted codebook of their labels (as measure.samples builds it)."""
    book = {label: i for i, label in enumerate(sorted(set(ref) | set(cur)))}

    def side(counts: Mapping[str, int]) -> CountedSample:
        codes = np.array(sorted(book[label] for label in counts), dtype=np.int64)
        by_code = {book[label]: n for label, n in counts.items()}
        return CountedSample.of_counts(codes, np.array([by_code[c] for c in codes], dtype=np.int64))

    return side(ref), side(cur)


@dataclass
class Summaries:
    """Both sides of every column Spark measured, and which numerical columns were sketched."""

    samples: dict[tuple[str, Kind], tuple[CountedSample, CountedSample]] = field(default_factory=dict)
    sketched: list[str] = field(default_factory=list)
    rank_error: float = 0.0


def summarise(
    spark: SparkSession,
    reference: Source,
    current: Source,
    columns: Sequence[tuple[str, Kind]],
    settings: SparkSpec,
) -> Summaries:
    """Exact counts (or KLL sketches above the distinct limit) of `columns` present on both sides."""
    import datasketches

    ref_frame, cur_frame = read(spark, reference), read(spark, current)
    both = set(ref_frame.columns) & set(cur_frame.columns)
    wanted = list(dict.fromkeys((n, k) for n, k in columns if n in both))
    numerical = [n for n, k in wanted if k == "numerical"]
    ref_profile, cur_profile = _profile(ref_frame, numerical), _profile(cur_frame, numerical)
    limit = settings.exact_distinct_limit
    sketched = [n for n in numerical if max(ref_profile.distinct[n], cur_profile.distinct[n]) > limit]
    exact = [n for n in numerical if n not in sketched]
    out = Summaries(sketched=sketched)
    if sketched:
        out.rank_error = datasketches.kll_doubles_sketch.get_normalized_rank_error(settings.kll_k, False)
    ref_num = numerical_counts(ref_frame, exact) | numerical_sketches(
        ref_frame, sketched, ref_profile, settings.kll_k
    )
    cur_num = numerical_counts(cur_frame, exact) | numerical_sketches(
        cur_frame, sketched, cur_profile, settings.kll_k
    )
    for name in numerical:
        out.samples[(name, "numerical")] = (ref_num[name], cur_num[name])
    for name, kind in wanted:
        if kind == "categorical":
            out.samples[(name, kind)] = categorical_samples(
                category_counts(ref_frame, name), category_counts(cur_frame, name)
            )
    return out


def measured_columns(cols: Columns) -> list[tuple[str, Kind]]:
    """The columns Spark summarises: features and model outputs. The label is joined from feedback
    by the row path (few rows), so the target is measured there."""
    out: list[tuple[str, Kind]] = [(n, "numerical") for n in cols.numerical]
    out += [(n, "categorical") for n in cols.categorical]
    if cols.prediction:
        out.append((cols.prediction, cols.prediction_kind))
    if cols.prediction_class:
        out.append((cols.prediction_class, "categorical"))
    out += [(n, "numerical") for n in cols.class_probabilities]
    return out


class SparkMeasurer(Measurer):
    """The numpy Measurer with each column's samples from Spark (computed once, on first use)."""

    def __init__(
        self,
        spec: DriftCheckSpec,
        calibrator: Calibrator,
        cols: Columns,
        reference: Source,
        current: Source,
        spark: SparkSession | None = None,
        summaries: Summaries | None = None,
    ) -> None:
        super().__init__(spec, calibrator)
        self._columns = measured_columns(cols)
        self._sources = (reference, current)
        self._spark = spark
        # Given: the distributions of an earlier summarise() of the same data (scored with other methods).
        self._summaries = summaries

    @property
    def summaries(self) -> Summaries:
        if self._summaries is None:
            spark = self._spark or session(self.spec.spark)
            try:
                self._summaries = summarise(spark, *self._sources, self._columns, self.spec.spark)
            except SparkError:
                raise
            except Exception as exc:  # py4j/Analysis errors carry a JVM stack trace: one line is enough
                first = str(exc).strip().splitlines()
                raise SparkError(first[0] if first else type(exc).__name__) from None
        return self._summaries

    def measure(self, name: str, kind: Kind, reference: pd.Series, current: pd.Series) -> ColumnResult | None:
        pair = self.summaries.samples.get((name, kind))
        if pair is None:
            return super().measure(name, kind, reference, current)
        ref, cur = pair
        if ref.size == 0 or cur.size == 0:
            return None
        method, threshold = self.method_and_threshold(name, kind, ref, cur)
        if ref.exact and cur.exact:
            score = spark_stats.statistic(method, ref, cur, kind)
        elif method == "ks":
            score = spark_stats.conservative_ks_pvalue(ref, cur, self.summaries.rank_error)
        else:
            score = spark_stats.statistic(method, ref, cur, kind)
            threshold += spark_stats.sketch_allowance(method, self.summaries.rank_error, ref)
        return ColumnResult(name, kind, method, score, threshold, is_drifted(method, score, threshold))


def measurer(
    spec: DriftCheckSpec,
    calibrator: Calibrator,
    cols: Columns,
    reference_uri: str,
    current_uri: str,
    window: datasets.Window | None,
    skipped: Sequence[datasets.SkippedFile],
) -> SparkMeasurer:
    """The Measurer of an `engine: spark` check over the same data the row path read."""
    return SparkMeasurer(
        spec,
        calibrator,
        cols,
        Source((spark_path(reference_uri),)),
        current_source(current_uri, window, skipped),
    )
