"""E-mail over SMTP (smtplib): plain text, UTF-8, one message per reminder."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from daihou.channels.ports import Failed, Message, Sent

# SMTP replies that will not change on a retry: the mailbox or the address is wrong.
PERMANENT_SMTP_CODES = frozenset({501, 550, 551, 553})


class SmtpEmail:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout_s = username, password, starttls, timeout_s

    def send(self, message: Message) -> Sent | Failed:
        if not message.address or "@" not in message.address:
            return Failed("no_address", "the borrower has no e-mail address", retryable=False)
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = make_msgid(idstring=f"reminder-{message.reminder_id}", domain=self.sender.split("@")[-1])
        mail["Content-Language"] = message.locale
        mail.set_content(message.body, charset="utf-8")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            return Failed(f"smtp_{code}", f"recipient refused: {exc.recipients}", code not in PERMANENT_SMTP_CODES)
        except smtplib.SMTPResponseException as exc:
            return Failed(f"smtp_{exc.smtp_code}", str(exc.smtp_error)[:200], exc.smtp_code not in PERMANENT_SMTP_CODES)
        except (OSError, smtplib.SMTPException) as exc:
            return Failed("smtp_unreachable", f"{type(exc).__name__}: {exc}"[:200])
        return Sent(str(mail["Message-ID"]))
