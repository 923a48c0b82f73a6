"""A user's own fitted Pipelines (not the demo's), dumped with skops, for the packaging and serving tests.

A few hundred rows of the demo generator and a handful of trees keep each fit well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import skops.io as sio
from driftwatch_demo import synthetic
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

ROWS = 400
TARGET = synthetic.TARGET
FEATURES = list(synthetic.FEATURE_NAMES)
# skops' default set does not cover the fitted trees: each classifier needs its own reviewed type.
TREE_TYPES = {
    "random_forest": "sklearn.tree._tree.Tree",
    "hist_gradient_boosting": "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
}


def classifier(kind: str) -> BaseEstimator:
    if kind == "random_forest":
        return RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)
    return HistGradientBoostingClassifier(max_iter=5, max_depth=3, random_state=0)


def user_pipeline(classifier: BaseEstimator) -> Pipeline:
    """One-hot for the categoricals, the numerics passed through, then `classifier`."""
    encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    pre = ColumnTransformer([("cat", encode, list(synthetic.CATEGORICAL))], remainder="passthrough")
    return Pipeline([("pre", pre), ("clf", classifier)])


def reference_frame(seed: int = 3, rows: int = ROWS) -> pd.DataFrame:
    """The user's reference data: every feature and the label."""
    return synthetic.generate(rows, seed=seed)[[*FEATURES, TARGET]]


def fitted(kind: str, seed: int = 1) -> Pipeline:
    data = synthetic.generate(ROWS, seed=seed)
    return user_pipeline(classifier(kind)).fit(data[FEATURES], data[TARGET])


def dump_user_files(workdir: Path, model: BaseEstimator, reference: pd.DataFrame) -> tuple[Path, Path]:
    """`skops.io.dump` of the model and the reference as Parquet, as a user would write them."""
    workdir.mkdir(parents=True, exist_ok=True)
    model_path, reference_path = workdir / "model.skops", workdir / "reference.parquet"
    sio.dump(model, model_path)
    reference.to_parquet(reference_path)
    return model_path, reference_path
