"""Where the steps execute: DuckDB (embedded, default) or Spark (PySpark; local mode in tests)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ibis
import pyarrow as pa

from daihou.batch.cob.steps import PIPELINE, Book, RunContext, Step

ENGINES = ("duckdb", "spark")


def connect(engine: str, threads: int | None = None) -> Any:
    """An Ibis backend. Spark runs in local mode bound to 127.0.0.1 unless SPARK_MASTER is set."""
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        if threads:
            con.raw_sql(f"SET threads TO {threads}")
        return con
    if engine == "spark":
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]"))
            .appName("daihou-cob")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", os.environ.get("DAIHOU_SPARK_PARTITIONS", "8"))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", os.environ.get("DAIHOU_SPARK_DRIVER_MEMORY", "4g"))
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        return ibis.pyspark.connect(session)
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def _register(con: Any, name: str, table: pa.Table) -> Any:
    if con.name == "pyspark":
        return con.create_table(name, table.to_pandas(types_mapper=None, date_as_object=True), overwrite=True)
    return con.create_table(name, table, overwrite=True, temp=True)


def execute(
    con: Any,
    loans: pa.Table,
    installments: pa.Table,
    ctx: RunContext,
    steps: tuple[Step, ...] = PIPELINE,
    progress: Callable[[str], None] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Run the steps over the book on the connection; each step's result is materialised."""
    book = Book(_register(con, "cob_loans", loans), _register(con, "cob_installments", installments))
    for step in steps:
        book = step(book, ctx)
        book = Book(book.loans.cache(), book.installments.cache())
        if progress:
            progress(step.__name__)
    return book.loans.to_pyarrow(), book.installments.to_pyarrow()
