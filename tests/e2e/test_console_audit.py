"""The console's audit log against a real server: filters, newest first, cursor pages,
the JSON Lines export (itself audited), validation, and who may read it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from ostiary import clock
from ostiary.domain.audit import AuditEvent
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import ConsoleUser, make_console_user, signed_in_client


@pytest.fixture
def admin(server: LiveServer) -> Iterator[tuple[httpx.Client, ConsoleUser]]:
    user = make_console_user(server, "admin")
    with signed_in_client(server, user) as web:
        yield web, user


def seed(server: LiveServer, count: int, *, at: int | None = None, **fields: str) -> str:
    """``count`` events of a fresh user (details.n = 0, 1, ...); the user id."""
    user_id = unique("subject")
    when = at or clock.now()
    batch = [
        AuditEvent(
            type=fields.get("type", "test.event"),
            actor="system",
            user_id=user_id,
            client_id=fields.get("client_id"),
            details={"n": n},
            at=when,
        )
        for n in range(count)
    ]
    server.call(lambda s: s.store.audit.add_many(batch))
    return user_id


def shown_numbers(html: str) -> list[int]:
    """details.n of the events on a page, top to bottom."""
    return [int(n) for n in re.findall(r'<code>\{"n": (\d+)\}</code>', html)]


def next_link(html: str) -> str | None:
    found = re.search(r'<p class="pager"><a href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def test_the_audit_log_shows_a_users_events_newest_first(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, _ = admin
    user_id = seed(server, 3)
    page = web.get("/admin/audit", params={"user_id": user_id})
    assert page.status_code == 200
    assert shown_numbers(page.text) == [2, 1, 0]
    assert f'value="{user_id}"' in page.text
    assert next_link(page.text) is None


def test_cursor_pages_cover_every_event_once_and_keep_the_filters(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, _ = admin
    user_id = seed(server, 120)
    seen: list[int] = []
    page = web.get("/admin/audit", params={"user_id": user_id})
    pages = 1
    while True:
        assert page.status_code == 200
        seen += shown_numbers(page.text)
        link = next_link(page.text)
        if link is None:
            break
        assert f"user_id={user_id}" in link and "cursor=" in link
        page = web.get(link)
        pages += 1
    assert pages == 3
    assert seen == list(range(119, -1, -1))


def test_filters_by_type_client_and_time_combine(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, _ = admin
    kind = unique("kind").replace("-", ".")
    client_id = unique("client")
    seed(server, 2, type=kind, client_id=client_id, at=1_700_000_000)
    seed(server, 1, type=kind, client_id=client_id, at=1_800_000_000)
    both = web.get("/admin/audit", params={"type": kind, "client_id": client_id})
    assert len(shown_numbers(both.text)) == 3
    early = web.get(
        "/admin/audit",
        params={"type": kind, "since": "2023-11-14", "until": "2023-11-15T00:00"},
    )
    assert early.status_code == 200 and shown_numbers(early.text) == [1, 0]
    late = web.get("/admin/audit", params={"type": kind, "since": "1700000001"})
    assert shown_numbers(late.text) == [0]
    none = web.get("/admin/audit", params={"type": kind, "client_id": "other"})
    assert shown_numbers(none.text) == [] and "No events match" in none.text


def test_bad_filters_are_shown_next_to_their_fields_with_the_input_kept(
    admin: tuple[httpx.Client, ConsoleUser],
) -> None:
    web, _ = admin
    page = web.get("/admin/audit", params={"since": "yesterday-ish", "user_id": "kept"})
    assert page.status_code == 422
    assert re.search(r'id="f-since"[^>]*aria-invalid="true"', page.text)
    assert 'id="e-since"' in page.text
    assert 'value="yesterday-ish"' in page.text and 'value="kept"' in page.text
    too_long = web.get("/admin/audit", params={"type": "t" * 65})
    assert too_long.status_code == 422 and 'id="e-type"' in too_long.text
    backwards = web.get("/admin/audit", params={"since": "2024-01-02", "until": "2024-01-01"})
    assert backwards.status_code == 422 and "until must not be before since" in backwards.text
    export = web.get("/admin/audit/export.jsonl", params={"until": "soon"})
    assert export.status_code == 422


def test_a_cursor_not_made_here_is_400(admin: tuple[httpx.Client, ConsoleUser]) -> None:
    web, _ = admin
    assert web.get("/admin/audit", params={"cursor": "garbage!"}).status_code == 400


def test_the_export_is_json_lines_of_the_filtered_events_oldest_first_and_audited(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, user = admin
    user_id = seed(server, 3)
    answer = web.get("/admin/audit/export.jsonl", params={"user_id": user_id})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert answer.headers["content-disposition"].startswith('attachment; filename="ostiary-audit-')
    assert answer.headers["cache-control"] == "no-store"
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["details"]["n"] for line in lines] == [0, 1, 2]
    assert {line["user_id"] for line in lines} == {user_id}
    assert list(lines[0]) == [
        "id",
        "at",
        "type",
        "actor",
        "outcome",
        "user_id",
        "client_id",
        "ip",
        "reason",
        "details",
    ]
    exported = [
        e
        for e in server.call(lambda s: s.store.audit.query(type="audit.exported", limit=1000))
        if e.actor == f"admin:{user.user_id}"
    ]
    assert len(exported) == 1
    assert exported[0].details["filters"] == {"user_id": user_id}


def test_a_big_export_streams_every_event(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, _ = admin
    user_id = seed(server, 1234)
    with web.stream("GET", "/admin/audit/export.jsonl", params={"user_id": user_id}) as answer:
        assert answer.status_code == 200
        numbers = [json.loads(line)["details"]["n"] for line in answer.iter_lines() if line]
    assert numbers == list(range(1234))


def test_an_auditor_reads_and_exports_the_log(server: LiveServer) -> None:
    user = make_console_user(server, "auditor")
    user_id = seed(server, 2)
    with signed_in_client(server, user) as web:
        page = web.get("/admin/audit", params={"user_id": user_id})
        assert page.status_code == 200 and shown_numbers(page.text) == [1, 0]
        export = web.get("/admin/audit/export.jsonl", params={"user_id": user_id})
        assert export.status_code == 200 and len(export.text.splitlines()) == 2
    exported = server.call(lambda s: s.store.audit.query(type="audit.exported", limit=1000))
    assert any(e.actor == f"admin:{user.user_id}" for e in exported)


def test_a_user_admin_may_neither_read_nor_export_the_log(server: LiveServer) -> None:
    user = make_console_user(server, "user-admin")
    with signed_in_client(server, user) as web:
        assert web.get("/admin/audit").status_code == 403
        assert web.get("/admin/audit/export.jsonl").status_code == 403
    exported = server.call(lambda s: s.store.audit.query(type="audit.exported", limit=1000))
    assert not any(e.actor == f"admin:{user.user_id}" for e in exported)


def test_signed_out_the_log_and_its_export_send_to_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as web:
        for path in ("/admin/audit", "/admin/audit/export.jsonl"):
            answer = web.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login?next=")


def test_a_head_request_for_the_export_reads_nothing_and_records_nothing(
    server: LiveServer, admin: tuple[httpx.Client, ConsoleUser]
) -> None:
    web, user = admin
    answer = web.head("/admin/audit/export.jsonl")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    exported = server.call(lambda s: s.store.audit.query(type="audit.exported", limit=1000))
    assert not any(e.actor == f"admin:{user.user_id}" for e in exported)
