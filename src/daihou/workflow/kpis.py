"""Collection KPIs for a period (`daihou report collections`, the web dashboard): the store's rows,
the KPI arithmetic of `daihou.analytics.collections`, and what counts as a conversation taken from
the collections policy the guardrails use, so both count the same contacts."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from daihou.analytics import collections as kpi

if TYPE_CHECKING:
    from daihou.bootstrap import App


def collection_kpis(app: App, start: date, end: date, by: str = "collector") -> pd.DataFrame:
    from daihou.storage.kpi_store import collection_frames
    from daihou.workflow.collections import load_policy

    cases, contacts, promises = collection_frames(app.engine, start, end, app.settings.timezone)
    talk = load_policy().guardrails.conversation_outcomes
    return kpi.collection_kpis(cases, contacts, promises, by, talk)
