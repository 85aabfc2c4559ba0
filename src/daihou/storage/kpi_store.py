"""The rows the collection KPIs read (`daihou.analytics.collections`), as DataFrames."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, and_, or_, select

from daihou.storage.collection_tables import collection_cases, contact_log, promises
from daihou.storage.recovery_tables import agencies


def collection_frames(
    engine: Engine, start: date, end: date, tz: str = "Asia/Shanghai"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cases open at some time in [start, end], the contacts logged and the promises made in it."""
    cc = collection_cases.c
    cases_q = (
        select(
            cc.id.label("case_id"),
            cc.collector,
            cc.team,
            agencies.c.name.label("agency"),
            cc.strategy_arm,
            cc.balance_at_open_fen,
            cc.collected_fen,
            and_(cc.closed_on.is_not(None), cc.closed_on >= start, cc.closed_on <= end).label("closed_in_period"),
            cc.close_reason,
        )
        .select_from(collection_cases.outerjoin(agencies, agencies.c.id == cc.placement_agency_id))
        .where(cc.opened_on <= end, or_(cc.closed_on.is_(None), cc.closed_on >= start))
    )
    zone = ZoneInfo(tz)  # the period is in local business days; contacts are stored in UTC
    since = datetime.combine(start, time(), zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC)
    contacts_q = select(contact_log.c.case_id, contact_log.c.party, contact_log.c.outcome).where(
        contact_log.c.started_at >= since, contact_log.c.started_at < until
    )
    promises_q = select(promises.c.case_id, promises.c.amount_fen, promises.c.paid_fen, promises.c.status).where(
        promises.c.promised_on >= start, promises.c.promised_on <= end
    )
    with engine.connect() as conn:
        frames = tuple(
            pd.DataFrame(conn.execute(q).mappings().all(), columns=list(q.selected_columns.keys()))
            for q in (cases_q, contacts_q, promises_q)
        )
    cases, contacts, made = frames
    cases["closed_in_period"] = cases["closed_in_period"].fillna(False).astype(bool)
    return cases, contacts, made
