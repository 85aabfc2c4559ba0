"""The demo book (`daihou demo`): a realistic synthetic loan book, built columnar and bulk-loaded.

What it owns:

- `parties`: borrowers from small Faker zh_CN pools sampled with NumPy — individuals with valid
  resident ID numbers (GB 11643 check digit) and one emergency contact, small businesses with a
  valid unified social credit code (GB 32100) and a legal representative; valid mobile numbers.
- `generate`: the loans (five default products, all four repayment methods, disbursements over the
  two years before the business date, broken first periods), their schedules through
  `daihou.batch.schedules.build_schedules`, and each loan's payment behaviour — on time, early
  payoff, late, partial, default — simulated as arrays with the domain's rules (grace days,
  penalty and compound interest, horizontal waterfall, payoff quote, interest recognition), so that
  replaying a loan's stored payments through `daihou.domain.servicing.replay` gives the stored loan
  exactly. It also lays out transactions and the journal (disbursement, payments, one accrual entry).
- `load`: `build_demo_book`, the entry point: refuses a book that already has loans, assigns the IDs
  itself and writes everything in one database transaction — `executemany` on SQLite, COPY on
  PostgreSQL — then returns a `DemoSummary`.

Nothing here loops over loans in Python except to build the rows handed to the database driver.
"""

from daihou.demo.load import DemoSummary, build_demo_book

__all__ = ["DemoSummary", "build_demo_book"]
