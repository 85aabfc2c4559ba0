"""The borrower portal's store: accounts, SMS codes, sessions, payment orders, uploads, requests,
and the borrower-scoped reads (own loans, inbox). Every read takes the borrower id: a borrower never
reaches another borrower's rows through this store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from daihou.storage.portal_tables import (
    payment_orders,
    portal_accounts,
    portal_requests,
    portal_sessions,
    portal_sms_codes,
    portal_uploads,
)
from daihou.storage.tables import borrowers, inbox_messages, loans


class SqlPortalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------ accounts
    def borrower_by_mobile(self, mobile: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(borrowers.c.id, borrowers.c.borrower_no, borrowers.c.name, borrowers.c.mobile)
                    .where(borrowers.c.mobile == mobile)
                    .order_by(borrowers.c.id)
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def borrower(self, borrower_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(borrowers.c.id, borrowers.c.borrower_no, borrowers.c.name, borrowers.c.mobile).where(
                        borrowers.c.id == borrower_id
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def add_account(self, borrower_id: int, mobile: str, password_hash: str, now: datetime) -> int | None:
        """A new account, or None when the borrower or the mobile number already has one."""
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        portal_accounts.insert().values(
                            borrower_id=borrower_id,
                            mobile=mobile,
                            password_hash=password_hash,
                            failed_logins=0,
                            created_at=now,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                )
        except IntegrityError:
            return None

    def account_by_mobile(self, mobile: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(portal_accounts).where(portal_accounts.c.mobile == mobile)).mappings().first()
        return dict(row) if row else None

    def account(self, account_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(portal_accounts).where(portal_accounts.c.id == account_id)).mappings().first()
        return dict(row) if row else None

    def login_failed(self, account_id: int, locked_until: datetime | None) -> int:
        with self.engine.begin() as conn:
            conn.execute(
                update(portal_accounts)
                .where(portal_accounts.c.id == account_id)
                .values(failed_logins=portal_accounts.c.failed_logins + 1, locked_until=locked_until)
            )
            return int(
                conn.execute(
                    select(portal_accounts.c.failed_logins).where(portal_accounts.c.id == account_id)
                ).scalar_one()
            )

    def login_succeeded(self, account_id: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(portal_accounts)
                .where(portal_accounts.c.id == account_id)
                .values(failed_logins=0, locked_until=None, last_login_at=now)
            )

    # ------------------------------------------------------------ SMS codes
    def add_code(self, account_id: int, challenge: str, code_hash: str, salt: str, expires_at: datetime,
                 now: datetime) -> None:  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                portal_sms_codes.insert().values(
                    account_id=account_id,
                    challenge=challenge,
                    code_hash=code_hash,
                    salt=salt,
                    expires_at=expires_at,
                    attempts=0,
                    created_at=now,
                )
            )

    def set_code_sent(self, challenge: str, send_code: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(portal_sms_codes).where(portal_sms_codes.c.challenge == challenge).values(send_code=send_code)
            )

    def code(self, challenge: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(portal_sms_codes).where(portal_sms_codes.c.challenge == challenge))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def codes_since(self, account_id: int, since: datetime) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        portal_sms_codes.c.account_id == account_id, portal_sms_codes.c.created_at >= since
                    )
                ).scalar_one()
            )

    def code_attempt(self, challenge: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(portal_sms_codes)
                .where(portal_sms_codes.c.challenge == challenge)
                .values(attempts=portal_sms_codes.c.attempts + 1)
            )

    def use_code(self, challenge: str, now: datetime) -> bool:
        """Mark the code used; False when it was used already (a code opens one session)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(portal_sms_codes)
                .where(portal_sms_codes.c.challenge == challenge, portal_sms_codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            return done.rowcount == 1

    # ------------------------------------------------------------ sessions
    def add_session(self, token_hash: str, account_id: int, csrf_token: str, expires_at: datetime,
                    now: datetime) -> None:  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                portal_sessions.insert().values(
                    token_hash=token_hash, account_id=account_id, csrf_token=csrf_token, expires_at=expires_at,
                    created_at=now,
                )
            )  # fmt: skip

    def session(self, token_hash: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(portal_sessions, portal_accounts.c.borrower_id)
                    .join(portal_accounts, portal_accounts.c.id == portal_sessions.c.account_id)
                    .where(portal_sessions.c.token_hash == token_hash)
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def end_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(portal_sessions.delete().where(portal_sessions.c.token_hash == token_hash))

    # ------------------------------------------------------------ borrower-scoped reads
    def loans_of(self, borrower_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    loans.c.id, loans.c.loan_no, loans.c.status, loans.c.principal_fen, loans.c.dpd,
                    loans.c.disbursed_on, loans.c.periods,
                ).where(loans.c.borrower_id == borrower_id).order_by(loans.c.disbursed_on.desc())
            ).mappings().all()  # fmt: skip
        return [dict(r) for r in rows]

    def loan_of(self, borrower_id: int, loan_no: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(loans.c.id, loans.c.loan_no, loans.c.status).where(
                        loans.c.borrower_id == borrower_id, loans.c.loan_no == loan_no
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def messages(self, borrower_id: int, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(inbox_messages)
                    .where(inbox_messages.c.borrower_id == borrower_id)
                    .order_by(inbox_messages.c.created_at.desc(), inbox_messages.c.id.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def mark_read(self, borrower_id: int, message_id: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(inbox_messages)
                .where(
                    inbox_messages.c.id == message_id,
                    inbox_messages.c.borrower_id == borrower_id,
                    inbox_messages.c.read_at.is_(None),
                )
                .values(read_at=now)
            )

    # ------------------------------------------------------------ payment orders
    def add_order(self, order_no: str, loan_id: int, account_id: int, amount_fen: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                payment_orders.insert().values(
                    order_no=order_no, loan_id=loan_id, account_id=account_id, amount_fen=amount_fen,
                    status="created", created_at=now,
                )
            )  # fmt: skip

    def order(self, order_no: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(payment_orders, loans.c.loan_no, loans.c.borrower_id)
                    .join(loans, loans.c.id == payment_orders.c.loan_id)
                    .where(payment_orders.c.order_no == order_no)
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def claim_order(self, order_no: str, gateway_txn_id: str) -> bool:
        """Bind the gateway's transaction to a created order; False if the order or the transaction
        was bound already (a replayed or duplicate callback)."""
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    update(payment_orders)
                    .where(payment_orders.c.order_no == order_no, payment_orders.c.gateway_txn_id.is_(None))
                    .values(gateway_txn_id=gateway_txn_id, status="paying")
                )
                return done.rowcount == 1
        except IntegrityError:
            return False

    def finish_order(self, order_no: str, status: str, code: str, message: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(payment_orders)
                .where(payment_orders.c.order_no == order_no)
                .values(status=status, outcome_code=code, outcome_message=message[:400], paid_at=now)
            )

    def orders_of(self, borrower_id: int, limit: int = 20) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(payment_orders, loans.c.loan_no)
                    .join(loans, loans.c.id == payment_orders.c.loan_id)
                    .where(loans.c.borrower_id == borrower_id)
                    .order_by(payment_orders.c.id.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------ uploads and requests
    def add_upload(self, borrower_id: int, loan_id: int | None, kind: str, filename: str, content_type: str,
                   size: int, sha256: str, now: datetime) -> int:  # fmt: skip
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    portal_uploads.insert().values(
                        borrower_id=borrower_id, loan_id=loan_id, kind=kind, filename=filename,
                        content_type=content_type, size_bytes=size, sha256=sha256, created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )  # fmt: skip

    def uploads_of(self, borrower_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(portal_uploads)
                    .where(portal_uploads.c.borrower_id == borrower_id)
                    .order_by(portal_uploads.c.id.desc())
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def add_request(self, borrower_id: int, loan_id: int, kind: str, months: int | None, reason: str,
                    status: str, forwarded_ref: str | None, now: datetime) -> int:  # fmt: skip
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    portal_requests.insert().values(
                        borrower_id=borrower_id, loan_id=loan_id, kind=kind, months=months, reason=reason,
                        status=status, forwarded_ref=forwarded_ref, created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )  # fmt: skip

    def requests_of(self, borrower_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(portal_requests, loans.c.loan_no)
                    .join(loans, loans.c.id == portal_requests.c.loan_id)
                    .where(portal_requests.c.borrower_id == borrower_id)
                    .order_by(portal_requests.c.id.desc())
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]
