"""Seeded generator of a synthetic telecom-churn table, with planted drift scenarios.

Training, the tests, the traffic generator and the demo all draw from here, so a drift check can be
judged against drift whose kind, place and size are known in advance.

- `none`: the training distribution.
- `covariate`: P(x) moves on chosen features (numeric mean shift in standard deviations, categorical
  mass moved onto one category); the label relation P(y|x) is unchanged.
- `prior`: P(y) moves (rows resampled by label to a new churn rate); P(x|y) is unchanged.
- `concept`: P(x) is unchanged, the label relation P(y|x) is replaced.
- `quality`: pipeline breakage: missing values, an unseen category, a removed column, a numeric
  column delivered as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from driftwatch_inference.model_card import FeatureSpec

TARGET = "churned"
ScenarioKind = Literal["none", "covariate", "prior", "concept", "quality"]
SCENARIOS: tuple[ScenarioKind, ...] = ("none", "covariate", "prior", "concept", "quality")


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "tenure_months",
        "numerical",
        "int",
        valid_min=0,
        valid_max=240,
        description="months since the customer signed up",
    ),
    FeatureSpec(
        "monthly_charges",
        "numerical",
        "float",
        valid_min=0,
        valid_max=1000,
        description="current monthly bill",
    ),
    FeatureSpec(
        "total_charges",
        "numerical",
        "float",
        valid_min=0,
        valid_max=250_000,
        description="amount billed since sign-up",
    ),
    FeatureSpec(
        "support_calls_90d",
        "numerical",
        "int",
        valid_min=0,
        valid_max=200,
        description="calls to customer support in the last 90 days",
    ),
    FeatureSpec(
        "data_usage_gb",
        "numerical",
        "float",
        valid_min=0,
        valid_max=10_000,
        description="mobile data used last month",
    ),
    FeatureSpec(
        "call_minutes",
        "numerical",
        "float",
        valid_min=0,
        valid_max=50_000,
        description="voice minutes last month",
    ),
    FeatureSpec(
        "dropped_call_rate",
        "numerical",
        "float",
        valid_min=0,
        valid_max=1,
        description="share of calls dropped last month",
    ),
    FeatureSpec(
        "late_payments_12m",
        "numerical",
        "int",
        valid_min=0,
        valid_max=12,
        description="late payments in the last 12 months",
    ),
    FeatureSpec(
        "num_lines", "numerical", "int", valid_min=1, valid_max=20, description="lines on the account"
    ),
    FeatureSpec("age", "numerical", "int", valid_min=18, valid_max=120, description="account holder's age"),
    FeatureSpec("contract", "categorical", "str", categories=("month-to-month", "one-year", "two-year")),
    FeatureSpec(
        "payment_method",
        "categorical",
        "str",
        categories=("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
    ),
    FeatureSpec("internet_service", "categorical", "str", categories=("dsl", "fiber", "none")),
    FeatureSpec("region", "categorical", "str", categories=("north", "south", "east", "west", "central")),
    FeatureSpec("plan_tier", "categorical", "str", categories=("basic", "standard", "premium")),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "numerical")
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")
SPECS: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}

_CATEGORY_WEIGHTS: dict[str, tuple[float, ...]] = {
    "contract": (0.55, 0.25, 0.20),
    "payment_method": (0.35, 0.20, 0.22, 0.23),
    "internet_service": (0.38, 0.44, 0.18),
    "region": (0.22, 0.20, 0.18, 0.25, 0.15),
    "plan_tier": (0.45, 0.38, 0.17),
}


@dataclass(frozen=True)
class Scenario:
    """What to plant in a generated table; `magnitude` is in standard deviations for numerical shifts."""

    kind: ScenarioKind = "none"
    features: tuple[str, ...] = ()
    magnitude: float = 1.0
    churn_rate: float = 0.5
    missing_share: float = 0.2
    quality_breaks: tuple[str, ...] = ("missing", "new_category", "removed_column", "type_change")
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def named(cls, kind: str, features: Sequence[str] | None = None) -> Scenario:
        """The scenario with sensible defaults for each kind (what `traffic --scenario` uses)."""
        if kind not in SCENARIOS:
            raise ValueError(f"unknown scenario {kind!r}; expected one of {', '.join(SCENARIOS)}")
        if kind == "covariate" and not features:
            features = ("tenure_months", "monthly_charges", "contract", "data_usage_gb")
        return cls(kind=kind, features=tuple(features or ()))


def _base_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    cats = {
        name: rng.choice(np.array(SPECS[name].categories, dtype=object), size=n, p=weights)
        for name, weights in _CATEGORY_WEIGHTS.items()
    }
    contract = cats["contract"]
    # Longer contracts go with longer tenure, as in real churn tables.
    tenure_scale = np.where(contract == "month-to-month", 14.0, np.where(contract == "one-year", 30.0, 45.0))
    tenure = np.clip(np.round(rng.gamma(1.6, tenure_scale / 1.6)), 0, 72).astype(np.int64)
    tier_base = np.select(
        [cats["plan_tier"] == "basic", cats["plan_tier"] == "standard"], [35.0, 65.0], default=95.0
    )
    monthly = np.clip(
        tier_base + rng.normal(0, 12, n) + np.where(cats["internet_service"] == "fiber", 15, 0), 18, 160
    ).round(2)
    total = (monthly * np.maximum(tenure, 1) * rng.uniform(0.92, 1.05, n)).round(2)
    support = rng.poisson(np.where(cats["internet_service"] == "fiber", 1.8, 1.1)).astype(np.int64)
    data = np.clip(rng.lognormal(2.6, 0.7, n), 0, 2000).round(2)
    minutes = np.clip(rng.gamma(3.0, 110.0, n), 0, 10_000).round(1)
    dropped = np.clip(rng.beta(1.5, 40, n), 0, 1).round(4)
    late = np.clip(rng.poisson(0.8, n), 0, 12).astype(np.int64)
    lines = np.clip(1 + rng.poisson(0.9, n), 1, 8).astype(np.int64)
    age = np.clip(np.round(rng.normal(46, 14, n)), 18, 90).astype(np.int64)
    frame = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls_90d": support,
            "data_usage_gb": data,
            "call_minutes": minutes,
            "dropped_call_rate": dropped,
            "late_payments_12m": late,
            "num_lines": lines,
            "age": age,
            **cats,
        }
    )
    for name in CATEGORICAL:
        frame[name] = frame[name].astype(object)
    return frame[list(FEATURE_NAMES)]


def churn_logit(frame: pd.DataFrame, *, concept: bool = False) -> np.ndarray:
    """The ground-truth log-odds of churn; `concept=True` is the changed world of the concept scenario."""
    m2m = (frame["contract"] == "month-to-month").to_numpy(float)
    echeck = (frame["payment_method"] == "electronic-check").to_numpy(float)
    fiber = (frame["internet_service"] == "fiber").to_numpy(float)
    tenure = frame["tenure_months"].to_numpy(float)
    monthly = frame["monthly_charges"].to_numpy(float)
    support = frame["support_calls_90d"].to_numpy(float)
    dropped = frame["dropped_call_rate"].to_numpy(float)
    late = frame["late_payments_12m"].to_numpy(float)
    lines = frame["num_lines"].to_numpy(float)
    if not concept:
        return (
            -2.5
            + 1.3 * m2m
            - 0.035 * tenure
            + 0.018 * (monthly - 65)
            + 0.32 * support
            + 12.0 * dropped
            + 0.30 * late
            + 0.45 * echeck
            + 0.35 * fiber
            - 0.15 * (lines - 1)
        )
    # A competitor undercuts on price and fixes its network: price now drives churn, contract and
    # support matter much less, and long-tenure customers leave too.
    return (
        -1.2
        + 0.2 * m2m
        + 0.01 * tenure
        + 0.06 * (monthly - 65)
        + 0.02 * support
        + 2.0 * dropped
        + 0.05 * late
        - 0.5 * echeck
        + 1.2 * fiber
        - 0.15 * (lines - 1)
    )


def _draw_labels(frame: pd.DataFrame, rng: np.random.Generator, *, concept: bool = False) -> np.ndarray:
    prob = 1.0 / (1.0 + np.exp(-churn_logit(frame, concept=concept)))
    return (rng.uniform(size=len(frame)) < prob).astype(np.int64)


def _shift_covariates(frame: pd.DataFrame, scenario: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    for name in scenario.features:
        spec = SPECS.get(name)
        if spec is None:
            raise ValueError(f"unknown feature {name!r} in covariate scenario")
        if spec.kind == "numerical":
            column = frame[name].to_numpy(float)
            shifted = column + scenario.magnitude * column.std()
            lo = spec.valid_min if spec.valid_min is not None else -np.inf
            hi = spec.valid_max if spec.valid_max is not None else np.inf
            shifted = np.clip(shifted, lo, hi)
            frame[name] = np.round(shifted).astype(np.int64) if spec.dtype == "int" else shifted.round(4)
        else:
            # Move a share of rows (magnitude * 25%, at most 90%) onto the least common category.
            target = spec.categories[int(np.argmin(_CATEGORY_WEIGHTS[name]))]
            share = min(0.9, 0.25 * scenario.magnitude)
            move = rng.uniform(size=len(frame)) < share
            frame.loc[move, name] = target
    return frame


def _resample_prior(
    frame: pd.DataFrame, labels: np.ndarray, n: int, churn_rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    positives = np.flatnonzero(labels == 1)
    negatives = np.flatnonzero(labels == 0)
    n_pos = round(n * churn_rate)
    idx = np.concatenate(
        [
            rng.choice(positives, size=n_pos, replace=True),
            rng.choice(negatives, size=n - n_pos, replace=True),
        ]
    )
    rng.shuffle(idx)
    return frame.iloc[idx].reset_index(drop=True), labels[idx]


def _break_quality(frame: pd.DataFrame, scenario: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    breaks = set(scenario.quality_breaks)
    if "missing" in breaks:
        for name in ("monthly_charges", "data_usage_gb"):
            mask = rng.uniform(size=len(frame)) < scenario.missing_share
            frame[name] = frame[name].astype(float).mask(mask)
    if "new_category" in breaks:
        mask = rng.uniform(size=len(frame)) < 0.1
        frame.loc[mask, "internet_service"] = "satellite"
    if "type_change" in breaks:
        frame["tenure_months"] = frame["tenure_months"].astype(str)
    if "removed_column" in breaks:
        frame = frame.drop(columns=["call_minutes"])
    return frame


def generate(n: int, seed: int = 0, scenario: Scenario | str = "none") -> pd.DataFrame:
    """`n` rows of features plus the `churned` label; same arguments, same table."""
    if n <= 0:
        raise ValueError("n must be positive")
    if isinstance(scenario, str):
        scenario = Scenario.named(scenario)
    rng = np.random.default_rng(seed)
    if scenario.kind == "prior":
        pool = _base_features(n * 3, rng)
        labels = _draw_labels(pool, rng)
        frame, labels = _resample_prior(pool, labels, n, scenario.churn_rate, rng)
    else:
        frame = _base_features(n, rng)
        if scenario.kind == "covariate":
            frame = _shift_covariates(frame, scenario, rng)
        labels = _draw_labels(frame, rng, concept=scenario.kind == "concept")
    if scenario.kind == "quality":
        frame = _break_quality(frame, scenario, rng)
    frame[TARGET] = labels
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready feature records (label dropped, NaN kept as None) for the HTTP API."""
    features = frame.drop(columns=[TARGET], errors="ignore")
    out = features.astype(object).where(features.notna(), None).to_dict(orient="records")
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in out]
