"""The demo book (`daihou demo`): a realistic synthetic loan book, generated columnar and bulk-loaded.

Entry point: `build_demo_book(engine, loans=…, seed=…, as_of=…, now=…, progress=…)` fills an
initialised book that has no loans (ValueError otherwise) and returns a `DemoSummary`.

What each module owns:

- `parties`: borrowers from small Faker zh_CN pools sampled with NumPy — individuals with valid
  resident ID numbers (GB 11643 check character) and one emergency contact, small businesses with
  a valid unified social credit code (GB 32100) and a legal representative; valid mobile numbers.
- `generate`: the loans (the five default products, all four repayment methods, disbursements
  over the two years before the business date, broken first periods, about one borrower in ten
  with two loans), their schedules through `daihou.batch.schedules.build_schedules`, and the
  layout of transactions and journal (disbursement, payments, one accrual entry per loan).
- `behaviour`: how each borrower pays — on time, early payoff, late, partial, default — simulated
  for the whole book as arrays with the domain's rules (grace days, penalty and compound interest,
  horizontal waterfall, payoff quote, interest recognition), so that replaying a loan's stored
  payments through `daihou.domain.servicing.replay` gives the stored loan exactly.
- `rows`: the table columns, as the repositories would have written them, with IDs assigned.
- `writers`: one transaction per load — `executemany` on SQLite (with a forked helper process for
  the journal on a big book), COPY on PostgreSQL; indexes and (PostgreSQL) foreign keys rebuilt
  once after the load.
- `load`: `build_demo_book`, which ties them together.

Nothing here loops over loans in Python except to build the rows handed to the database driver.
"""

from daihou.demo.load import DemoSummary, build_demo_book

__all__ = ["DemoSummary", "build_demo_book"]
