"""Side-by-side benchmarks: Shipyard's tracking server vs MLflow's own `mlflow server`.

Entry point: `bench/run.py` (see bench/README.md).
"""
