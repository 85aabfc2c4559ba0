"""Recovery tables: restructuring/settlement requests, legal matters, agencies, write-off.

Part of the one schema in `daihou.storage.tables`.
"""

from __future__ import annotations

from daihou.storage.tables import _created, _id, metadata  # noqa: F401
