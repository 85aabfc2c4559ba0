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
        # no step depends on row order (results are joined by key and sorted where written):
        # letting DuckDB drop it saves memory and time on big books
        con.raw_sql("SET preserve_insertion_order = false")
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
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")  # pandas <-> Spark in columns, not rows
            .config("spark.driver.memory", os.environ.get("DAIHOU_SPARK_DRIVER_MEMORY", "4g"))
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        return ibis.pyspark.connect(session)
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def _register(con: Any, name: str, table: pa.Table) -> Any:
    if con.name == "pyspark":
        # the schema is given, not inferred from pandas: a column that is all null (say, no loan is
        # restructured) would otherwise be typed VOID, which Spark cannot store
        # one chunk per column: pandas keeps chunked text columns, which Spark's Arrow path rejects
        frame = table.combine_chunks().to_pandas(types_mapper=None, date_as_object=True)
        memtable = ibis.memtable(frame, schema=ibis.Schema.from_pyarrow(table.schema))
        return con.create_table(name, memtable, overwrite=True)
    return con.create_table(name, table, overwrite=True, temp=True)


def execute(
    con: Any,
    loans: pa.Table,
    installments: pa.Table,
    ctx: RunContext,
    steps: tuple[Step, ...] = PIPELINE,
    progress: Callable[[str], None] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Run the steps over the book on the connection; each step's result is materialised.

    A table a step changed is cached (so that the next step reads a materialised table, not a
    growing expression), and the cache it replaces is released at once: the engine holds at most
    two generations of each table, not one per step.
    """
    book = Book(_register(con, "cob_loans", loans), _register(con, "cob_installments", installments))
    held: dict[int, Any] = {}  # id() -> cached table (ibis overloads ==, so no list membership)
    try:
        for step in steps:
            out = step(book, ctx)
            fresh = Book(
                book.loans if out.loans is book.loans else out.loans.cache(),
                book.installments if out.installments is book.installments else out.installments.cache(),
            )
            for old, new in ((book.loans, fresh.loans), (book.installments, fresh.installments)):
                if new is not old:
                    held[id(new)] = new
                    if id(old) in held:
                        held.pop(id(old)).release()
            book = fresh
            if progress:
                progress(step.__name__)
        return book.loans.to_pyarrow(), book.installments.to_pyarrow()
    finally:
        for table in held.values():
            table.release()
        for name in ("cob_loans", "cob_installments"):
            con.drop_table(name, force=True)
