"""The pure domain of daihou: standard library only, no I/O, no clock, no ORM.

It owns money and rates, calendars and day counts, products, repayment schedules, the loan
aggregate (accrual, allocation, prepayment, waivers, reversal by replay), legal caps, identity
checks and the double-entry journal. Everything else in daihou calls into it.
"""
