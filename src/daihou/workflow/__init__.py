"""Workflows over loans that talk to people: repayment reminders now; follow-up visits, early
warnings and collections next. A workflow decides with the pure rules in `daihou.domain`, reads and
writes through the ports in `ports.py` (implemented in `daihou.storage`) and sends through
`daihou.channels`. The clock and the business date are passed in.
"""
