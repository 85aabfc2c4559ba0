"""SQL store for security: users, sessions, tokens, login attempts, the audit log, idempotent
responses, and reads limited to a principal's data scope (SQLAlchemy Core)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, column, exists, false, func, insert, or_, select, table, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from daihou.security.ports import (
    AuditEntry,
    LoanFilter,
    SessionRecord,
    StoredResponse,
    TokenRecord,
    UserRecord,
)
from daihou.security.principal import Principal
from daihou.security.roles import Scope
from daihou.storage.security_tables import (
    api_tokens,
    audit_log,
    idempotency_keys,
    login_attempts,
    user_sessions,
    users,
)
from daihou.storage.tables import borrowers, loans, products

IN_FLIGHT = 0  # idempotency_keys.status_code of a claimed key whose request is still running

# Collection cases belong to the collections workflow (migration 0007); only these columns are read.
cases = table(
    "collection_cases",
    column("id"),
    column("loan_id"),
    column("collector"),
    column("placement_agency_id"),
    column("status"),
    column("stage"),
    column("team"),
    column("dpd"),
    column("opened_on"),
    column("balance_fen"),
    column("overdue_fen"),
    column("collectable_fen"),
    column("collected_fen"),
    column("last_contact_on"),
)


def _user(r: Any) -> UserRecord:
    return UserRecord(
        r.id,
        r.username,
        r.display_name,
        r.role,
        r.password_hash,
        bool(r.active),
        r.agency_id,
        r.borrower_id,
        r.created_at,
    )


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _audit_row(e: AuditEntry) -> dict[str, Any]:
    return {
        "at": e.at,
        "actor": e.actor[:64],
        "actor_role": e.actor_role[:32],
        "action": e.action[:64],
        "entity": e.entity[:32],
        "entity_id": str(e.entity_id)[:64],
        "before_json": _dump(e.before),
        "after_json": _dump(e.after),
        "ip": e.ip[:64] if e.ip else None,
    }


class SqlSecurityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ users

    def user_by_username(self, username: str) -> UserRecord | None:
        with self.engine.connect() as c:
            r = c.execute(select(users).where(users.c.username == username)).first()
        return _user(r) if r else None

    def user_by_id(self, user_id: int) -> UserRecord | None:
        with self.engine.connect() as c:
            r = c.execute(select(users).where(users.c.id == user_id)).first()
        return _user(r) if r else None

    def add_user(
        self,
        username: str,
        display_name: str,
        role: str,
        password_hash: str,
        agency_id: int | None,
        borrower_id: int | None,
        now: datetime,
    ) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(
                    insert(users).values(
                        username=username,
                        display_name=display_name,
                        role=role,
                        password_hash=password_hash,
                        active=True,
                        agency_id=agency_id,
                        borrower_id=borrower_id,
                        password_changed_at=now,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def set_password(self, user_id: int, password_hash: str, now: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash, password_changed_at=now)
            )

    def set_active(self, user_id: int, active: bool) -> None:
        with self.engine.begin() as c:
            c.execute(update(users).where(users.c.id == user_id).values(active=active))

    def users(self) -> list[UserRecord]:
        with self.engine.connect() as c:
            return [_user(r) for r in c.execute(select(users).order_by(users.c.username))]

    def borrower_id(self, borrower_no: str) -> int | None:
        with self.engine.connect() as c:
            return c.execute(select(borrowers.c.id).where(borrowers.c.borrower_no == borrower_no)).scalar()

    # ------------------------------------------------------------ login attempts

    def failures_since(self, username: str, ip: str, since: datetime) -> tuple[int, int]:
        fails = and_(login_attempts.c.ok == false(), login_attempts.c.attempted_at >= since, login_attempts.c.ip == ip)
        with self.engine.connect() as c:
            per_user_ip = c.execute(
                select(func.count()).select_from(login_attempts).where(fails, login_attempts.c.username == username)
            ).scalar_one()
            per_ip = c.execute(select(func.count()).select_from(login_attempts).where(fails)).scalar_one()
        return int(per_user_ip), int(per_ip)

    def record_attempt(self, username: str, ip: str, ok: bool, now: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(insert(login_attempts).values(username=username[:64], ip=ip[:64], ok=ok, attempted_at=now))

    # ------------------------------------------------------------ sessions

    def create_session(
        self, user_id: int, token_sha256: str, csrf_token: str, ip: str, now: datetime, expires_at: datetime
    ) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(
                    insert(user_sessions).values(
                        token_sha256=token_sha256,
                        user_id=user_id,
                        csrf_token=csrf_token,
                        ip=ip[:64],
                        created_at=now,
                        expires_at=expires_at,
                        last_seen_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def session(self, token_sha256: str) -> tuple[SessionRecord, UserRecord] | None:
        s = user_sessions
        q = select(s, users).join(users, users.c.id == s.c.user_id).where(s.c.token_sha256 == token_sha256)
        with self.engine.connect() as c:
            r = c.execute(q).first()
        if r is None:
            return None
        m = r._mapping
        rec = SessionRecord(
            m[s.c.id],
            m[s.c.user_id],
            m[s.c.csrf_token],
            m[s.c.created_at],
            m[s.c.expires_at],
            m[s.c.last_seen_at],
            m[s.c.ended_at],
        )
        user = UserRecord(
            m[users.c.id],
            m[users.c.username],
            m[users.c.display_name],
            m[users.c.role],
            m[users.c.password_hash],
            bool(m[users.c.active]),
            m[users.c.agency_id],
            m[users.c.borrower_id],
            m[users.c.created_at],
        )
        return rec, user

    def touch_session(self, session_id: int, now: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(update(user_sessions).where(user_sessions.c.id == session_id).values(last_seen_at=now))

    def end_session(self, token_sha256: str, now: datetime) -> bool:
        s = user_sessions
        with self.engine.begin() as c:
            n = c.execute(
                update(s).where(s.c.token_sha256 == token_sha256, s.c.ended_at.is_(None)).values(ended_at=now)
            ).rowcount
        return bool(n)

    def end_user_sessions(self, user_id: int, now: datetime) -> int:
        s = user_sessions
        with self.engine.begin() as c:
            return int(
                c.execute(update(s).where(s.c.user_id == user_id, s.c.ended_at.is_(None)).values(ended_at=now)).rowcount
            )

    # ------------------------------------------------------------ API tokens

    def add_token(
        self, name: str, user_id: int, role: str, token_sha256: str, now: datetime, expires_at: datetime | None
    ) -> int:
        with self.engine.begin() as c:
            return int(
                c.execute(
                    insert(api_tokens).values(
                        token_sha256=token_sha256,
                        name=name,
                        user_id=user_id,
                        role=role,
                        created_at=now,
                        expires_at=expires_at,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def token(self, token_sha256: str) -> tuple[TokenRecord, UserRecord] | None:
        t = api_tokens
        q = select(t, users).join(users, users.c.id == t.c.user_id).where(t.c.token_sha256 == token_sha256)
        with self.engine.connect() as c:
            r = c.execute(q).first()
        if r is None:
            return None
        m = r._mapping
        rec = TokenRecord(
            m[t.c.id], m[t.c.name], m[t.c.user_id], m[t.c.role], m[t.c.created_at], m[t.c.expires_at], m[t.c.revoked_at]
        )
        user = UserRecord(
            m[users.c.id],
            m[users.c.username],
            m[users.c.display_name],
            m[users.c.role],
            m[users.c.password_hash],
            bool(m[users.c.active]),
            m[users.c.agency_id],
            m[users.c.borrower_id],
            m[users.c.created_at],
        )
        return rec, user

    def revoke_token(self, token_id: int, now: datetime) -> bool:
        t = api_tokens
        with self.engine.begin() as c:
            return bool(
                c.execute(update(t).where(t.c.id == token_id, t.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
            )

    def tokens(self) -> list[TokenRecord]:
        t = api_tokens
        with self.engine.connect() as c:
            return [
                TokenRecord(r.id, r.name, r.user_id, r.role, r.created_at, r.expires_at, r.revoked_at)
                for r in c.execute(select(t).order_by(t.c.id))
            ]

    # ------------------------------------------------------------ audit

    def append_audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        rows = [_audit_row(e) for e in entries]
        with self.engine.begin() as c:
            c.execute(insert(audit_log), rows)

    def audit_entries(
        self,
        entity: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        a = audit_log
        conds: list[ColumnElement[bool]] = []
        if entity:
            conds.append(a.c.entity == entity)
        if entity_id:
            conds.append(a.c.entity_id == entity_id)
        if actor:
            conds.append(a.c.actor == actor)
        if action:
            conds.append(a.c.action == action)
        where = and_(true(), *conds)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(a).where(where)).scalar_one()
            rows = c.execute(select(a).where(where).order_by(a.c.id.desc()).limit(limit).offset(offset)).all()
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "actor_role": r.actor_role,
                "action": r.action,
                "entity": r.entity,
                "entity_id": r.entity_id,
                "before": json.loads(r.before_json) if r.before_json else None,
                "after": json.loads(r.after_json) if r.after_json else None,
                "ip": r.ip,
            }
            for r in rows
        ], int(total)

    # ------------------------------------------------------------ idempotency

    def stored_response(self, actor: str, key: str) -> StoredResponse | None:
        k = idempotency_keys
        with self.engine.connect() as c:
            r = c.execute(
                select(k.c.request_sha256, k.c.status_code, k.c.response_json).where(k.c.actor == actor, k.c.key == key)
            ).first()
        return StoredResponse(r.request_sha256, r.status_code, json.loads(r.response_json)) if r else None

    def reserve_key(
        self, actor: str, key: str, request_sha256: str, now: datetime, stale_before: datetime
    ) -> StoredResponse | None:
        """Claim (actor, key) for a request about to run: None when claimed (go ahead), else what the key
        holds: the first response, or a claim in flight (status 0) by another request. A claim left by a
        request that died before `stale_before` is taken over (same request only)."""
        k = idempotency_keys
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(k).values(
                        actor=actor,
                        key=key,
                        request_sha256=request_sha256,
                        status_code=IN_FLIGHT,
                        response_json="null",
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            pass
        found = self.stored_response(actor, key)
        assert found is not None
        if found.status_code == IN_FLIGHT and found.request_sha256 == request_sha256:
            with self.engine.begin() as c:
                taken = c.execute(
                    update(k)
                    .where(
                        k.c.actor == actor, k.c.key == key, k.c.status_code == IN_FLIGHT, k.c.created_at < stale_before
                    )
                    .values(created_at=now)
                ).rowcount
            if taken:
                return None
        return found

    def release_key(self, actor: str, key: str) -> None:
        """Give up a claim whose request failed before it had an answer worth keeping."""
        k = idempotency_keys
        with self.engine.begin() as c:
            c.execute(k.delete().where(k.c.actor == actor, k.c.key == key, k.c.status_code == IN_FLIGHT))

    def store_response(
        self,
        actor: str,
        key: str,
        request_sha256: str,
        status_code: int,
        body: Any,
        now: datetime,
        audit: AuditEntry | None = None,
    ) -> StoredResponse:
        """Keep the response of a claimed key, with its audit entry, in one transaction."""
        k = idempotency_keys
        text_body = json.dumps(body, ensure_ascii=False, default=str)
        with self.engine.begin() as c:
            if audit is not None:
                c.execute(insert(audit_log), [_audit_row(audit)])
            done = c.execute(
                update(k)
                .where(k.c.actor == actor, k.c.key == key, k.c.status_code == IN_FLIGHT)
                .values(status_code=status_code, response_json=text_body)
            ).rowcount
            if not done:  # not claimed first: keep it unless someone else answered already
                try:
                    with c.begin_nested():
                        c.execute(
                            insert(k).values(
                                actor=actor,
                                key=key,
                                request_sha256=request_sha256,
                                status_code=status_code,
                                response_json=text_body,
                                created_at=now,
                            )
                        )
                except IntegrityError:
                    pass
        first = self.stored_response(actor, key)
        assert first is not None
        return first


# ---------------------------------------------------------------- reads limited to a data scope


def loan_scope_clause(principal: Principal) -> ColumnElement[bool]:
    """The condition on `loans` that keeps a principal inside its data scope (roles.toml)."""
    scope = principal.scope
    if scope is Scope.ALL:
        return true()
    if scope is Scope.OFFICER:
        return loans.c.officer == principal.username
    if scope is Scope.BORROWER:
        return loans.c.borrower_id == principal.borrower_id if principal.borrower_id is not None else false()
    if scope is Scope.COLLECTOR:
        return exists().where(cases.c.loan_id == loans.c.id, cases.c.collector == principal.username)
    if scope is Scope.AGENCY:
        if principal.agency_id is None:
            return false()
        return exists().where(cases.c.loan_id == loans.c.id, cases.c.placement_agency_id == principal.agency_id)
    raise AssertionError(f"unknown scope {scope}")


def case_scope_clause(principal: Principal) -> ColumnElement[bool]:
    scope = principal.scope
    if scope is Scope.COLLECTOR:
        return cases.c.collector == principal.username
    if scope is Scope.AGENCY:
        return cases.c.placement_agency_id == principal.agency_id if principal.agency_id is not None else false()
    if scope is Scope.ALL:
        return true()
    return exists().where(loans.c.id == cases.c.loan_id, loan_scope_clause(principal))


LOAN_LIST_COLUMNS = (
    loans.c.loan_no,
    borrowers.c.borrower_no,
    borrowers.c.name.label("borrower_name"),
    products.c.code.label("product_code"),
    loans.c.officer,
    loans.c.status,
    loans.c.principal_fen,
    loans.c.dpd,
    loans.c.classification,
    loans.c.disbursed_on,
    loans.c.accrued_through,
)


class SqlScopedReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def loan_scope(self, principal: Principal, loan_no: str) -> str:
        q = select(loans.c.id, loan_scope_clause(principal).label("ok")).where(loans.c.loan_no == loan_no)
        with self.engine.connect() as c:
            r = c.execute(q).first()
        return "missing" if r is None else ("in" if r.ok else "out")

    def borrower_scope(self, principal: Principal, borrower_no: str) -> str:
        with self.engine.connect() as c:
            bid = c.execute(select(borrowers.c.id).where(borrowers.c.borrower_no == borrower_no)).scalar()
            if bid is None:
                return "missing"
            if principal.scope is Scope.ALL:
                return "in"
            if principal.scope is Scope.BORROWER:
                return "in" if principal.borrower_id == bid else "out"
            ok = c.execute(select(exists().where(loans.c.borrower_id == bid, loan_scope_clause(principal)))).scalar()
        return "in" if ok else "out"

    def case_scope(self, principal: Principal, case_id: int) -> str:
        q = select(cases.c.id, case_scope_clause(principal).label("ok")).where(cases.c.id == case_id)
        with self.engine.connect() as c:
            r = c.execute(q).first()
        return "missing" if r is None else ("in" if r.ok else "out")

    def scoped_loan_ids(self, principal: Principal, loan_ids: list[int]) -> set[int]:
        if not loan_ids:
            return set()
        with self.engine.connect() as c:
            return set(
                c.execute(select(loans.c.id).where(loans.c.id.in_(loan_ids), loan_scope_clause(principal))).scalars()
            )

    def loan_nos_in_scope(self, principal: Principal, loan_nos: list[str]) -> set[str]:
        if not loan_nos:
            return set()
        found: set[str] = set()
        with self.engine.connect() as c:
            for start in range(0, len(loan_nos), 500):
                part = loan_nos[start : start + 500]
                found.update(
                    c.execute(
                        select(loans.c.loan_no).where(loans.c.loan_no.in_(part), loan_scope_clause(principal))
                    ).scalars()
                )
        return found

    def loans_page(
        self, principal: Principal, flt: LoanFilter, page: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        conds: list[ColumnElement[bool]] = [loan_scope_clause(principal)]
        if flt.status:
            conds.append(loans.c.status == flt.status)
        if flt.classification:
            conds.append(loans.c.classification == flt.classification)
        if flt.officer:
            conds.append(loans.c.officer == flt.officer)
        if flt.product_code:
            conds.append(products.c.code == flt.product_code)
        if flt.borrower_no:
            conds.append(borrowers.c.borrower_no == flt.borrower_no)
        if flt.min_dpd is not None:
            conds.append(loans.c.dpd >= flt.min_dpd)
        if flt.max_dpd is not None:
            conds.append(loans.c.dpd <= flt.max_dpd)
        if flt.q:
            conds.append(loans.c.loan_no.startswith(flt.q, autoescape=True))
        joined = loans.join(borrowers, borrowers.c.id == loans.c.borrower_id).join(
            products, products.c.id == loans.c.product_id
        )
        where = and_(*conds)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
            rows = c.execute(
                select(*LOAN_LIST_COLUMNS)
                .select_from(joined)
                .where(where)
                .order_by(loans.c.loan_no)
                .limit(size)
                .offset((page - 1) * size)
            ).all()
        return [dict(r._mapping) for r in rows], int(total)

    def borrowers_page(
        self, principal: Principal, q: str | None, page: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        b = borrowers
        conds: list[ColumnElement[bool]] = []
        if principal.scope is Scope.BORROWER:
            conds.append(b.c.id == principal.borrower_id if principal.borrower_id is not None else false())
        elif principal.scope is not Scope.ALL:
            conds.append(exists().where(loans.c.borrower_id == b.c.id, loan_scope_clause(principal)))
        if q:
            conds.append(or_(b.c.borrower_no.startswith(q, autoescape=True)))
        where = and_(true(), *conds)
        cols = (b.c.id, b.c.borrower_no, b.c.kind, b.c.name, b.c.id_number, b.c.mobile)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(b).where(where)).scalar_one()
            rows = c.execute(
                select(*cols).where(where).order_by(b.c.borrower_no).limit(size).offset((page - 1) * size)
            ).all()
        return [dict(r._mapping) for r in rows], int(total)

    def borrower(self, borrower_no: str) -> dict[str, Any] | None:
        b = borrowers
        with self.engine.connect() as c:
            r = c.execute(select(b).where(b.c.borrower_no == borrower_no)).first()
            if r is None:
                return None
            out = dict(r._mapping)
            out["loan_nos"] = list(
                c.execute(
                    select(loans.c.loan_no).where(loans.c.borrower_id == r.id).order_by(loans.c.loan_no)
                ).scalars()
            )
        return out

    def cases_page(
        self, principal: Principal, status: str | None, page: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = and_(case_scope_clause(principal), cases.c.status == status if status else true())
        cols = [c for c in cases.c if c.name != "loan_id"]
        joined = cases.join(loans, loans.c.id == cases.c.loan_id)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
            rows = c.execute(
                select(*cols, loans.c.loan_no)
                .select_from(joined)
                .where(where)
                .order_by(cases.c.id)
                .limit(size)
                .offset((page - 1) * size)
            ).all()
        return [dict(r._mapping) for r in rows], int(total)

    def scope_samples(self) -> dict[str, Any]:
        """For demo users: the busiest officer, collector and agency, and one borrower with a loan."""
        with self.engine.connect() as c:
            officer = c.execute(
                select(loans.c.officer)
                .where(loans.c.officer.is_not(None))
                .group_by(loans.c.officer)
                .order_by(func.count().desc(), loans.c.officer)
                .limit(1)
            ).scalar()
            borrower = (
                c.execute(
                    select(borrowers.c.borrower_no, borrowers.c.mobile)
                    .join(loans, loans.c.borrower_id == borrowers.c.id)
                    .where(loans.c.status == "overdue")
                    .order_by(borrowers.c.id)
                    .limit(1)
                ).first()
                or c.execute(
                    select(borrowers.c.borrower_no, borrowers.c.mobile)
                    .join(loans, loans.c.borrower_id == borrowers.c.id)
                    .order_by(borrowers.c.id)
                    .limit(1)
                ).first()
            )
            try:
                collector = c.execute(
                    select(cases.c.collector)
                    .where(cases.c.collector.is_not(None))
                    .group_by(cases.c.collector)
                    .order_by(func.count().desc(), cases.c.collector)
                    .limit(1)
                ).scalar()
                agency = c.execute(
                    select(cases.c.placement_agency_id)
                    .where(cases.c.placement_agency_id.is_not(None))
                    .group_by(cases.c.placement_agency_id)
                    .order_by(func.count().desc())
                    .limit(1)
                ).scalar()
            except Exception:  # the collections tables are not there yet
                collector, agency = None, None
        return {
            "officer": officer,
            "borrower_no": borrower.borrower_no if borrower else None,
            "borrower_mobile": borrower.mobile if borrower else None,
            "collector": collector,
            "agency_id": agency,
        }
