"""Columnar, set-based computation over whole books (schedules now; the close-of-business batch later)."""
