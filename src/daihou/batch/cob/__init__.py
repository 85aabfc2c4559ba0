"""The close-of-business batch (日终批处理): one business day for the whole book at once.

`steps.py` defines each step once as Ibis expressions; `engines.py` runs them on DuckDB or Spark;
`columns.py` is the column layout; `runner.py` loads, runs, snapshots and writes back.
"""
