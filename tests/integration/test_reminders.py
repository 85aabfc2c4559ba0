"""Repayment reminders against real stores (SQLite and PostgreSQL) and real local servers: an SMTP
server (aiosmtpd) and an SMS gateway (http.server) on 127.0.0.1, started here.

The last test simulates 90 days of a few hundred loans and audits the outcome with its own plain
Python, recomputing from each schedule and the payment plan which reminders should exist.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import random
import socket
import threading
import time as _time
import tomllib
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from aiosmtpd.controller import Controller
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.channels.inbox import PortalInbox
from daihou.channels.ports import Failed, Message, Sent
from daihou.channels.robot_call import RobotCallQueue
from daihou.channels.settings import ChannelSettings
from daihou.channels.sms import AliyunStyleSms
from daihou.channels.smtp import SmtpEmail
from daihou.cli.reminder_cmd import reminder_app
from daihou.domain.identity import id_check_char
from daihou.domain.parties import Borrower, PartyKind
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t
from daihou.workflow.reminders import ReminderService, build, generate_reminders

SH = ZoneInfo("Asia/Shanghai")
D = date.fromisoformat


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SH)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class Recorder:
    """A channel that keeps what it is given; fails when told to."""

    def __init__(self, name: str, fail_every: int = 0, delay_s: float = 0.0) -> None:
        self.name, self.fail_every, self.delay_s = name, fail_every, delay_s
        self.messages: list[Message] = []
        self.calls = 0
        self.lock = threading.Lock()

    def send(self, message: Message) -> Sent | Failed:
        _time.sleep(self.delay_s)
        with self.lock:
            self.calls += 1
            if self.fail_every and self.calls % self.fail_every == 0:
                return Failed("isp.SYSTEM_ERROR", "try again")
            self.messages.append(message)
            return Sent(f"{self.name}-{message.reminder_id}")


def _id_number(k: int) -> str:
    body = f"110105{1960 + k % 40}{1 + k % 12:02d}{1 + k % 28:02d}{k % 1000:03d}"
    return body + id_check_char(body)


def _borrowers(app: App, count: int, mobile: str | None = None) -> None:
    with app.uow() as uow:
        for k in range(count):
            phone = mobile or f"139{k:08d}"
            uow.borrowers.add(Borrower(f"B{k}", PartyKind.INDIVIDUAL, f"张{k}", _id_number(k), phone))
        uow.commit()


def _book(app: App, loan_no: str, borrower_no: str = "B0", principal_fen: int = 1_200_000, **kw: Any) -> None:
    cmd = BookLoan(loan_no, borrower_no, principal_fen, Decimal("0.12"), 12, D("2026-01-15"), **kw)
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"


def _service(app: App, **channels: Any) -> ReminderService:
    service = build(app, channels=channels)
    for template in service.policy.templates:
        assert service.activate(template.id, "tester").ok
    return service


def _reminders(app: App) -> list[dict[str, Any]]:
    r = t.reminders
    q = select(r, t.loans.c.loan_no).join(t.loans, t.loans.c.id == r.c.loan_id).order_by(r.c.id)
    with app.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(q)]


def _attempts(app: App) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(t.reminder_attempts).order_by("id"))]


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# ---------------------------------------------------------------- generation


def test_a_day_gets_one_reminder_per_step_due_and_a_rerun_creates_nothing(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")  # due 2026-02-15, 03-15, …; 12 months of 1066.19
    service = build(app, channels={})
    first = service.generate(D("2026-02-12"))
    again = service.generate(D("2026-02-12"))
    assert (first.created, again.created) == (1, 0)
    (row,) = _reminders(app)
    assert (row["loan_no"], row["installment_no"], row["step_code"], row["channel"]) == ("L1", 1, "T-3", "sms")
    assert row["due_date"] == D("2026-02-15") and row["address"] == "13900000000"
    assert _as_utc(row["planned_at"]) == local("2026-02-12 09:00").astimezone(UTC)
    assert row["amount_due_fen"] == 106_619 and row["status"] == "pending"


def test_generation_is_one_statement_per_step_not_one_per_loan(app: App) -> None:
    _borrowers(app, 1)
    for k in range(30):
        _book(app, f"L{k}")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(app.engine, "before_cursor_execute", count)
    try:
        done = generate_reminders(app, D("2026-02-15"))
    finally:
        event.remove(app.engine, "before_cursor_execute", count)
    assert done.created == 30 and done.per_step["T0"] == 30
    assert len([s for s in statements if s.lstrip().upper().startswith("INSERT")]) == len(done.per_step)


def test_a_settled_installment_or_one_covered_by_an_early_payment_gets_no_reminder(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "PAID")
    _book(app, "EARLY")
    _book(app, "OPEN")
    assert ledger.post_payment(app.uow(), "PAID", 106_619, D("2026-02-15"), "P1").code == "accepted"
    assert ledger.post_payment(app.uow(), "EARLY", 106_619, D("2026-02-13"), "P2").code == "accepted"
    generate_reminders(app, D("2026-02-16"))  # T+1
    assert [r["loan_no"] for r in _reminders(app)] == ["OPEN"]


def test_two_generators_at_once_still_create_each_reminder_once(app: App) -> None:
    _borrowers(app, 1)
    for k in range(20):
        _book(app, f"L{k}")
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        generate_reminders(app, D("2026-02-15"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(_reminders(app)) == 20


# ---------------------------------------------------------------- dispatch


def test_two_dispatchers_at_once_send_each_reminder_exactly_once(app: App) -> None:
    _borrowers(app, 1)
    for k in range(25):
        _book(app, f"L{k}")
    sms = Recorder("sms", delay_s=0.002)
    service = _service(app, sms=sms)
    service.generate(D("2026-02-15"))
    clock = Clock(local("2026-02-15 09:00"))
    results = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(service.dispatch(clock))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    results.append(service.dispatch(clock))  # and a third, afterwards
    sent_ids = [m.reminder_id for m in sms.messages]
    assert len(sent_ids) == 25 and len(set(sent_ids)) == 25
    assert sum(r.sent for r in results) == 25
    assert {r["status"] for r in _reminders(app)} == {"sent"}


def test_a_reminder_due_in_quiet_hours_is_recorded_as_rescheduled_and_sent_at_eight(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    sms = Recorder("sms")
    service = _service(app, sms=sms)
    service.generate(D("2026-02-15"))
    assert service.dispatch(Clock(local("2026-02-15 23:00"))).rescheduled == 1
    assert service.dispatch(Clock(local("2026-02-16 07:59"))).rescheduled == 0  # not due before 08:00
    assert service.dispatch(Clock(local("2026-02-16 08:00"))).sent == 1
    attempts = _attempts(app)
    assert [a["status"] for a in attempts] == ["rescheduled", "sent"]
    assert attempts[0]["code"] == "outside_contact_hours"
    assert _as_utc(attempts[0]["next_attempt_at"]) == local("2026-02-16 08:00").astimezone(UTC)


def test_a_reminder_paid_before_it_went_out_is_cancelled(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    sms = Recorder("sms")
    service = _service(app, sms=sms)
    service.generate(D("2026-02-15"))
    ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "P1")
    assert service.dispatch(Clock(local("2026-02-15 09:00"))).cancelled == 1
    assert sms.messages == [] and _reminders(app)[0]["status"] == "cancelled"


def test_the_amount_sent_is_what_is_still_due_when_sending(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    sms = Recorder("sms")
    service = _service(app, sms=sms)
    service.generate(D("2026-02-15"))
    ledger.post_payment(app.uow(), "L1", 6_619, D("2026-02-15"), "P1")  # partial
    service.dispatch(Clock(local("2026-02-15 09:00")))
    assert sms.messages[0].params["amount"] == "1000.00"


def test_a_disputed_loan_holds_its_reminders_until_the_dispute_is_resolved(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    sms = Recorder("sms")
    service = _service(app, sms=sms)
    service.generate(D("2026-02-15"))
    assert service.open_dispute("L1", "borrower says the February installment was paid in cash")
    assert service.dispatch(Clock(local("2026-02-15 09:00"))).held == 1
    assert service.dispatch(Clock(local("2026-02-16 09:00"))).held == 0 and sms.messages == []
    service.clock = Clock(local("2026-02-17 09:00"))
    assert service.resolve_dispute("L1") == 1
    assert service.dispatch(Clock(local("2026-02-17 09:00"))).sent == 1


def test_the_seventh_robot_call_to_one_number_in_a_day_waits_for_the_next_morning(app: App) -> None:
    _borrowers(app, 1)
    for k in range(7):
        _book(app, f"L{k}")  # seven loans of one borrower: seven T+7 calls to one number on 2026-02-22
    service = _service(app, robot_call=RobotCallQueue(app.engine, app.clock.now))
    service.generate(D("2026-02-22"))
    result = service.dispatch(Clock(local("2026-02-22 10:00")))
    assert (result.sent, result.rescheduled) == (6, 1)
    assert result.codes["dial_cap_reached"] == 1
    assert service.dispatch(Clock(local("2026-02-23 08:00"))).sent == 1
    with app.engine.connect() as conn:
        tasks = conn.execute(select(t.robot_call_tasks.c.phone, t.robot_call_tasks.c.script)).all()
    assert len(tasks) == 7 and {p for p, _ in tasks} == {"13900000000"}
    assert "已逾期7天" in tasks[0][1]


def test_an_inbox_reminder_is_written_to_the_portal_inbox_once_and_counts_as_delivered(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    service = _service(app, inbox=PortalInbox(app.engine, app.clock.now))
    service.set_recipient("B0", None, "en")
    service.generate(D("2026-02-16"))  # T+1 goes to the inbox
    assert service.dispatch(Clock(local("2026-02-16 09:30"))).delivered == 1
    assert service.dispatch(Clock(local("2026-02-16 10:30"))).delivered == 0
    with app.engine.connect() as conn:
        (msg,) = conn.execute(select(t.inbox_messages)).all()
    assert msg.subject == "Installment 1 of loan L1 is not yet paid" and msg.locale == "en"
    assert "CNY 1066.19 is still unpaid" in msg.body
    assert _reminders(app)[0]["provider_message_id"] == f"inbox:{msg.id}"


def test_a_template_with_banned_language_cannot_be_activated_and_never_sends(app: App, tmp_path: Path) -> None:
    text = resources.files("daihou.workflow").joinpath("reminder_policy.toml").read_text("utf-8")
    text = text.replace("请尽快还款以免产生罚息", "再不还钱就上门找你，公安已立案，你这个老赖")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    inbox = PortalInbox(app.engine, app.clock.now)
    service = build(app, policy_path=path, channels={"inbox": inbox})
    refused = service.activate("inbox_overdue", "tester")
    assert not refused.ok and refused.code == "banned_language"
    assert all(w in refused.reason for w in ("上门", "公安", "老赖"))
    _borrowers(app, 1)
    _book(app, "L1")
    service.generate(D("2026-02-16"))
    result = service.dispatch(Clock(local("2026-02-16 09:30")))
    assert result.delivered == 0 and result.waiting == 1
    assert _reminders(app)[0]["status"] == "pending"


def test_an_edited_template_must_be_activated_again(app: App, tmp_path: Path) -> None:
    service = _service(app)
    assert all(v.active for v in service.templates())
    text = resources.files("daihou.workflow").joinpath("reminder_policy.toml").read_text("utf-8")
    path = tmp_path / "policy.toml"
    path.write_text(text.replace("已还款请忽略。", "已还款请忽略，谢谢。"), encoding="utf-8")
    edited = build(app, policy_path=path, channels={})
    assert {v.id for v in edited.templates() if not v.active} == {"sms_due_today"}


# ---------------------------------------------------------------- real servers on 127.0.0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    mailbox, port = _Mailbox(), _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def test_an_email_reminder_arrives_at_a_real_smtp_server(app: App, smtp_server: tuple[int, _Mailbox]) -> None:
    port, mailbox = smtp_server
    _borrowers(app, 1)
    _book(app, "L1")
    mailer = SmtpEmail("127.0.0.1", port, "reminders@bank.example", timeout_s=5)
    service = _service(app, email=mailer)
    service.set_recipient("B0", "zhang@example.com", None)
    service.generate(D("2026-02-14"))  # T-1 by e-mail
    assert service.dispatch(Clock(local("2026-02-14 10:00"))).sent == 1
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "reminders@bank.example" and envelope.rcpt_tos == ["zhang@example.com"]
    mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert mail["Subject"] == "还款提醒：2026-02-15应还1066.19元"
    body = mail.get_content()
    assert "张0您好" in body and "第1期将于2026-02-15到期，应还金额1066.19元" in body and "95555" in body
    assert _reminders(app)[0]["provider_message_id"] == mail["Message-ID"]


def test_an_unreachable_smtp_server_is_a_retryable_failure(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    service = _service(app, email=SmtpEmail("127.0.0.1", _free_port(), "r@bank.example", timeout_s=2))
    service.set_recipient("B0", "zhang@example.com", None)
    service.generate(D("2026-02-14"))
    result = service.dispatch(Clock(local("2026-02-14 10:00")))
    assert result.failed == 1 and result.given_up == 0
    row = _reminders(app)[0]
    assert row["status"] == "pending" and row["failures"] == 1 and row["last_code"] == "smtp_unreachable"


KEY_ID, SECRET = "LTAI-test-key", "test-secret-3f9a"


def _aliyun_signature(secret: str, params: dict[str, str]) -> str:
    """Written from the provider's documentation, apart from the adapter's code."""

    def enc(s: str) -> str:
        return urllib.parse.quote(s, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    canonical = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
    to_sign = "POST&" + enc("/") + "&" + enc(canonical)
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class _Gateway(ThreadingHTTPServer):
    requests: list[dict[str, str]]
    script: list[tuple[int, dict[str, str]]]


class _SendSms(BaseHTTPRequestHandler):
    server: _Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        self.server.requests.append(dict(params))
        signature = params.pop("Signature", "")
        if signature != _aliyun_signature(SECRET, params) or params.get("AccessKeyId") != KEY_ID:
            status, answer = 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        elif params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            status, answer = 400, {"Code": "InvalidAction", "Message": "bad action"}
        elif self.server.script:
            status, answer = self.server.script.pop(0)
        else:
            status, answer = 200, {"Code": "OK", "Message": "OK", "BizId": f"9{len(self.server.requests):05d}^0"}
        answer.setdefault("RequestId", "F655A8D5-B967-440B-8683-DAD6FF8DE990")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sms_gateway() -> Iterator[_Gateway]:
    server = _Gateway(("127.0.0.1", 0), _SendSms)
    server.requests, server.script = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _sms(gateway: _Gateway, secret: str = SECRET) -> AliyunStyleSms:
    host, port = gateway.server_address[:2]
    return AliyunStyleSms(f"http://{host}:{port}/", KEY_ID, secret, "示例银行", timeout_s=5)


def test_an_sms_goes_through_a_signed_gateway_request_and_failures_are_retried(app: App, sms_gateway: _Gateway) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    sms_gateway.script = [
        (500, {"Code": "InternalError", "Message": "The request processing has failed due to some unknown error."}),
        (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}),
    ]
    service = _service(app, sms=_sms(sms_gateway))
    service.generate(D("2026-02-15"))
    assert service.dispatch(Clock(local("2026-02-15 09:00"))).failed == 1
    assert service.dispatch(Clock(local("2026-02-15 09:04"))).failed == 0  # backoff: not before 09:05
    assert service.dispatch(Clock(local("2026-02-15 09:05"))).failed == 1
    assert service.dispatch(Clock(local("2026-02-15 09:15"))).sent == 1
    assert len(sms_gateway.requests) == 3
    last = sms_gateway.requests[-1]
    assert last["PhoneNumbers"] == "13900000000" and last["SignName"] == "示例银行"
    assert last["TemplateCode"] == "SMS_480000002"
    assert json.loads(last["TemplateParam"])["amount"] == "1066.19"
    assert json.loads(last["TemplateParam"])["due_date"] == "2026-02-15"
    assert [a["status"] for a in _attempts(app)] == ["failed", "failed", "sent"]
    assert [a["code"] for a in _attempts(app)][:2] == ["InternalError", "isv.BUSINESS_LIMIT_CONTROL"]
    assert _reminders(app)[0]["provider_message_id"] == "900003^0"


def test_a_wrongly_signed_sms_is_refused_by_the_gateway_and_not_retried(app: App, sms_gateway: _Gateway) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    service = _service(app, sms=_sms(sms_gateway, secret="wrong-secret"))
    service.generate(D("2026-02-15"))
    result = service.dispatch(Clock(local("2026-02-15 09:00")))
    assert result.given_up == 1 and result.codes == {"SignatureDoesNotMatch": 1}


def test_channel_secrets_refuse_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAIHOU_CHANNELS_SMS_ACCESS_KEY_SECRET", "changeme")
    with pytest.raises(ValidationError, match="placeholder"):
        ChannelSettings()
    monkeypatch.setenv("DAIHOU_CHANNELS_SMS_ACCESS_KEY_SECRET", "a-real-looking-secret")
    assert ChannelSettings().sms_access_key_secret is not None


# ---------------------------------------------------------------- the command line


def test_the_reminder_commands_generate_list_activate_and_dispatch(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "SMS_ENDPOINT"):
        monkeypatch.delenv(f"DAIHOU_CHANNELS_{name}", raising=False)
    _borrowers(app, 1)
    _book(app, "L1")
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = app

    root.add_typer(reminder_app, name="reminder")
    run = CliRunner().invoke
    out = run(root, ["reminder", "generate", "--date", "2026-02-16", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["created"] == 1
    listed = json.loads(run(root, ["reminder", "list", "--date", "2026-02-16", "--json"]).stdout)
    assert listed[0]["planned_at"] == "2026-02-16T09:30+08:00" and listed[0]["amount_due"] == "1066.19"
    templates = json.loads(run(root, ["reminder", "templates", "--json"]).stdout)
    assert {d["id"] for d in templates if not d["active"]} == {d["id"] for d in templates}
    assert run(root, ["reminder", "activate", "nope"]).exit_code == 1
    assert run(root, ["reminder", "activate", "inbox_overdue", "--by", "compliance"]).exit_code == 0
    done = run(root, ["reminder", "dispatch", "--now", "2026-02-16T09:30", "--json"])
    assert json.loads(done.stdout)["delivered"] == 1
    sent = json.loads(run(root, ["reminder", "list", "--status", "delivered", "--json"]).stdout)
    assert [r["loan_no"] for r in sent] == ["L1"]


# ---------------------------------------------------------------- 90 days, audited

SIM_START, SIM_DAYS, SIM_LOANS = D("2026-03-01"), 90, 240
DISPATCH_TIMES = ("07:00", "09:00", "09:30", "10:00", "12:30", "21:59", "22:30")


def _plan(rng: random.Random, schedule: list[tuple[int, date]]) -> dict[int, date | None]:
    """When the borrower pays each installment in full (None: never)."""
    kind = rng.choices(["on_time", "early", "late", "stops"], weights=[50, 15, 20, 15])[0]
    lateness, stop = rng.randint(1, 12), rng.randint(1, max(1, len(schedule)))
    plan: dict[int, date | None] = {}
    for no, due in schedule:
        if kind == "early":
            plan[no] = due - timedelta(days=2)
        elif kind == "late":
            plan[no] = due + timedelta(days=lateness)
        elif kind == "stops" and no >= stop:
            plan[no] = None
        else:
            plan[no] = due
    return plan


def _book_sim(app: App, rng: random.Random) -> dict[str, dict[int, tuple[date, int]]]:
    """Book the loans; returns each loan's schedule as the ledger holds it: no -> (due date, amount)."""
    with app.uow() as uow:
        for k in range(SIM_LOANS // 2):
            uow.borrowers.add(Borrower(f"B{k}", PartyKind.INDIVIDUAL, f"李{k}", _id_number(k), f"137{k:08d}"))
        for k in range(SIM_LOANS):
            start = D("2025-12-01") + timedelta(days=rng.randint(0, 120))
            cmd = BookLoan(
                f"SIM{k:04d}",
                f"B{k % (SIM_LOANS // 2)}",  # some borrowers have two loans
                rng.randint(20, 300) * 10_000,
                Decimal(rng.choice(["0.0435", "0.072", "0.12", "0.18"])),
                rng.choice([3, 6, 12]),
                start,
            )
            assert ledger.book_loan_in(uow, cmd).code == "accepted"
        uow.commit()
    schedules = {}
    with app.uow() as uow:
        for k in range(SIM_LOANS):
            loan = uow.loans.get(f"SIM{k:04d}")
            assert loan is not None
            schedules[loan.loan_no] = {i.no: (i.due_date, i.principal.due + i.interest.due) for i in loan.installments}
    return schedules


def _audit(
    app: App,
    schedules: dict[str, dict[int, tuple[date, int]]],
    plans: dict[str, dict[int, date | None]],
    received: dict[str, list[int]],
) -> dict[str, int]:
    """Recompute, from the schedules, the payment plan and the policy file, what must have happened,
    and compare with the store. Written apart from the code under test: plain Python and SQL reads."""
    policy = tomllib.loads(resources.files("daihou.workflow").joinpath("reminder_policy.toml").read_text("utf-8"))
    steps = {s["code"]: (s["offset_days"], s["send_at"]) for s in policy["steps"]}
    last_day = SIM_START + timedelta(days=SIM_DAYS - 1)
    expected = set()
    for loan_no, schedule in schedules.items():
        for no, (due, _) in schedule.items():
            for code, (offset, _) in steps.items():
                day = due + timedelta(days=offset)
                paid = plans[loan_no][no]
                if SIM_START <= day <= last_day and (paid is None or paid >= day):
                    expected.add((loan_no, no, code))
    rows = _reminders(app)
    found = Counter((r["loan_no"], r["installment_no"], r["step_code"]) for r in rows)
    assert set(found) == expected, (sorted(set(found) - expected)[:5], sorted(expected - set(found))[:5])
    assert max(found.values()) == 1, "a reminder was generated twice"
    for r in rows:  # at the right offset, planned at the step's local time
        offset, send_at = steps[r["step_code"]]
        assert r["business_date"] == r["due_date"] + timedelta(days=offset)
        planned = _as_utc(r["planned_at"]).astimezone(SH)
        assert (planned.date(), planned.strftime("%H:%M")) == (r["business_date"], send_at)
    by_id = {r["id"]: r for r in rows}
    successes: Counter[int] = Counter()
    for a in _attempts(app):
        if a["status"] in ("sent", "delivered"):
            successes[a["reminder_id"]] += 1
            hour = _as_utc(a["attempted_at"]).astimezone(SH).hour
            assert 8 <= hour < 22, f"reminder {a['reminder_id']} went out at {hour}h Shanghai time"
    assert max(successes.values()) == 1, "a reminder was sent twice"
    for channel, ids in received.items():
        assert len(ids) == len(set(ids)), f"{channel} received a reminder twice"
    with app.engine.connect() as conn:
        inbox_ids = list(conn.execute(select(t.inbox_messages.c.reminder_id)).scalars())
    assert len(inbox_ids) == len(set(inbox_ids))
    statuses = Counter(r["status"] for r in rows)
    assert statuses["sending"] == 0
    for r in rows:  # nothing dropped: every reminder is sent, cancelled because paid, or still queued
        paid = plans[r["loan_no"]][r["installment_no"]]
        if r["status"] == "cancelled":
            assert paid is not None and paid <= _as_utc(r["updated_at"]).astimezone(SH).date()
        elif r["status"] == "pending":
            assert r["business_date"] >= last_day - timedelta(days=1), r
        else:
            assert r["status"] in ("sent", "delivered"), r
            assert successes[r["id"]] == 1 and r["id"] in by_id
    return dict(statuses)


@pytest.mark.slow
def test_ninety_days_of_a_book_get_every_reminder_once_at_the_right_time_and_never_at_night(app: App) -> None:
    rng = random.Random(20260301)
    schedules = _book_sim(app, rng)
    plans = {loan_no: _plan(rng, sorted((no, due) for no, (due, _) in s.items())) for loan_no, s in schedules.items()}
    payments: dict[date, list[tuple[str, int, int]]] = {}
    for loan_no, plan in plans.items():
        for no, paid in plan.items():
            if paid is not None:
                payments.setdefault(paid, []).append((loan_no, no, schedules[loan_no][no][1]))
    sms, mail = Recorder("sms", fail_every=9), Recorder("email", fail_every=13)
    service = _service(app, sms=sms, email=mail, inbox=PortalInbox(app.engine, app.clock.now))
    service.channels["robot_call"] = RobotCallQueue(app.engine, app.clock.now)
    for k in range(SIM_LOANS // 2):
        service.set_recipient(f"B{k}", f"b{k}@example.com", "en" if k % 5 == 0 else None)
    backlog = sorted(day for day in payments if day < SIM_START)
    for day in [*backlog, *(SIM_START + timedelta(days=n) for n in range(SIM_DAYS))]:
        if day >= SIM_START:
            generate_reminders(app, day)  # the close of business of the day before
            if day.day % 10 == 0:
                generate_reminders(app, day)  # a rerun changes nothing
        for when in DISPATCH_TIMES:
            if day < SIM_START:
                break
            clock = Clock(local(f"{day} {when}"))
            if day.day % 6 == 0 and when not in ("07:00", "22:30"):
                pass  # the dispatcher is down all day: the backlog meets quiet hours at 22:30
            elif when == "09:00" and day.day % 7 == 0:  # two dispatchers at once
                threads = [threading.Thread(target=service.dispatch, args=(clock,)) for _ in range(2)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
            else:
                service.dispatch(clock)
            if when == "07:00":  # some pay first thing in the morning, before their reminder goes out
                _pay(app, day, [p for p in payments.get(day, []) if int(p[0][3:]) % 4 == 0])
            if when == "10:00":  # the others around noon
                _pay(app, day, [p for p in payments.get(day, []) if int(p[0][3:]) % 4 != 0])
        if day < SIM_START:
            _pay(app, day, payments.get(day, []))
    statuses = _audit(app, schedules, plans, {"sms": _ids(sms), "email": _ids(mail)})
    assert statuses.get("sent", 0) > 1000 and statuses.get("delivered", 0) > 50 and statuses.get("cancelled", 0) > 0


def _ids(channel: Recorder) -> list[int]:
    return [m.reminder_id for m in channel.messages]


def _pay(app: App, day: date, due: list[tuple[str, int, int]]) -> None:
    """Pay each planned installment in full; a late one with a margin for its penalty interest."""
    if not due:
        return
    with app.uow() as uow:
        for loan_no, no, amount in due:
            loan = uow.loans.get(loan_no)
            assert loan is not None
            inst = loan.installment(no)
            late = (day - inst.due_date).days
            margin = amount // 20 if late > 0 else 0
            outcome = ledger.post_in(uow, loan_no, _payment(day, amount + margin, f"{loan_no}-{no}"))
            assert outcome.code == "accepted", outcome
            after = uow.loans.get(loan_no)
            assert after is not None
            settled = after.installment(no).settled or after.credit_fen >= after.installment(no).arrears_fen
            assert settled, (loan_no, no, outcome)
        uow.commit()


def _payment(day: date, amount_fen: int, reference: str) -> Any:
    from daihou.domain.servicing import Payment

    return Payment(day, amount_fen, reference)


def test_the_store_counts_reminders_per_status(app: App) -> None:
    _borrowers(app, 1)
    _book(app, "L1")
    build(app, channels={}).generate(D("2026-02-15"))
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.reminders)).scalar_one() == 1
