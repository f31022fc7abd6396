"""Outgoing mail (password reset, email verification) over SMTP, off the event loop.

The standard library's smtplib runs in a worker thread, so no new dependency is needed.
Bodies carry one-time links, so neither a body nor a link is ever logged: a log line names
the kind of mail and the user id only.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from ostiary.settings import SmtpSettings

log = logging.getLogger("ostiary.mail")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    # Out of the repr: the body carries a one-time link.
    body: str = field(repr=False)
    # What the mail is and whom it concerns, for the log line (never the body).
    kind: str
    user_id: str


async def send(settings: SmtpSettings, mail: Mail) -> bool:
    """Deliver ``mail``; False when SMTP is not configured or delivery failed (logged)."""
    if not settings.host:
        log.warning(
            "%s mail for user %s not sent: OSTIARY_SMTP__HOST is not set", mail.kind, mail.user_id
        )
        return False
    try:
        await asyncio.to_thread(_send_sync, settings, _message(settings, mail))
    except (OSError, smtplib.SMTPException) as exc:
        # The exception's text may quote the server's reply, never our body: class only.
        log.warning(
            "%s mail for user %s failed: %s", mail.kind, mail.user_id, exc.__class__.__name__
        )
        return False
    log.info("%s mail for user %s sent", mail.kind, mail.user_id)
    return True


def _message(settings: SmtpSettings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    # An explicit domain: without one, make_msgid asks DNS for this host's name.
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


def _send_sync(settings: SmtpSettings, message: EmailMessage) -> None:
    assert settings.host is not None
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.use_tls:
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.starttls and not settings.use_tls:
            smtp.starttls(context=context)
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            smtp.login(settings.username, password)
        smtp.send_message(message)
