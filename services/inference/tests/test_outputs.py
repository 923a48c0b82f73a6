"""A model's raw outputs as answered and captured, per task (outputs.py)."""

from __future__ import annotations

import pytest
from driftwatch_inference.outputs import Scored, outputs_of

pytestmark = pytest.mark.unit

ROWS = {
    "binary": Scored("a", 1, 0.75, None),
    "multiclass": Scored("b", "gold", 0.5, {"basic": 0.2, "gold": 0.5, "plus": 0.3}),
    "regression": Scored("c", 12.5, None, None),
}


@pytest.mark.parametrize("task", ROWS)
def test_the_capture_getter_of_a_task_gives_the_rows_outputs(task: str) -> None:
    scored = ROWS[task]
    assert outputs_of(task)(scored) == scored.outputs()


def test_outputs_follow_the_capture_schemas_order() -> None:
    assert ROWS["binary"].outputs() == (1, 0.75)
    assert ROWS["multiclass"].outputs() == ("gold", 0.5, 0.2, 0.5, 0.3)
    assert ROWS["regression"].outputs() == (12.5,)
