"""A trivial retrain deployment, `retrain/churn`, served for the approval tests (run by .venv-prefect)."""

from prefect import flow


@flow(name="retrain")
def retrain() -> str:
    return "trained"


if __name__ == "__main__":
    retrain.serve(name="churn")
