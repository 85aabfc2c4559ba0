"""Borrower-portal tables: accounts, SMS codes, payment orders, uploads.

Part of the one schema in `daihou.storage.tables`.
"""

from __future__ import annotations

from daihou.storage.tables import _created, _id, metadata  # noqa: F401
