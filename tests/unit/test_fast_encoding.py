"""The hand-rolled encodings of the login path write what the standard library writes.

The redirect back to the client (RFC 6749 §4.1.2: the code, state and iss in the query) is
built without ``urlencode``'s per-character quoting when a value needs none, and the login
cookies without ``SimpleCookie``, the 303s without ``RedirectResponse``'s quoting pass and
the blank login page from a copy rendered once per context; the output must be
the same, byte for byte.
"""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import RedirectResponse, Response

from ostiary.oauth.authorize import form_encode
from ostiary.settings import load_settings
from ostiary.web.browser import Browser
from ostiary.web.responses import NO_STORE, page, redirect, slotted_page

TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.text(
    "abcXYZ019-_.~+ /:?&=%#", max_size=40
)


@given(st.dictionaries(TEXT, TEXT, max_size=6))
def test_form_encode_is_urlencode(values: dict[str, str]) -> None:
    assert form_encode(values) == urlencode(values)


@given(
    value=st.text("abcXYZ0189_-", min_size=1, max_size=60)
    | st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
    max_age=st.integers(min_value=0, max_value=10**8),
    https=st.booleans(),
)
def test_cookie_header_is_starlettes(value: str, max_age: int, https: bool) -> None:
    issuer = "https://id.example.com" if https else "http://127.0.0.1:9"
    browser = Browser(load_settings(issuer=issuer, secret_key="k" * 48))
    ours, theirs = Response(), Response()
    browser.set_cookie(ours, "ost_session", value, max_age)
    theirs.set_cookie(
        "ost_session", value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=https
    )
    assert ours.headers.getlist("set-cookie") == theirs.headers.getlist("set-cookie")


@given(
    st.text("abcXYZ019-_.~:/%#?=@[]!$&'()*+,;", max_size=80)
    | st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40)
)
def test_redirect_location_is_starlettes(location: str) -> None:
    """RFC 9700 §4.12: a 303, never cached; the Location byte for byte RedirectResponse's."""
    ours = redirect(location)
    theirs = RedirectResponse(location, status_code=303, headers=NO_STORE)
    assert ours.status_code == 303 and ours.body == b""
    assert ours.headers["location"] == theirs.headers["location"]
    assert sorted(ours.headers.items()) == sorted(theirs.headers.items())


NAMES = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30)


@given(
    client_name=NAMES,
    error=st.none() | NAMES,
    username=NAMES,
    local_login=st.booleans(),
    providers=st.lists(st.tuples(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), NAMES)),
    interaction_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    csrf=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
)
def test_login_page_from_the_rendered_once_copy_is_the_rendered_page(
    client_name: str,
    error: str | None,
    username: str,
    local_login: bool,
    providers: list[tuple[str, str]],
    interaction_id: str,
    csrf: str,
) -> None:
    """The login page put together from a copy rendered once per context is, byte for
    byte, the page rendered for this request (escaping included)."""
    context = {
        "client_name": client_name,
        "error": error,
        "username": username,
        "local_login": local_login,
        "providers": providers,
    }
    slots = {"interaction_id": interaction_id, "csrf": csrf}
    for _ in range(2):  # rendered, then from the copy
        ours = slotted_page("login.html", 200, slots, **context)
        theirs = page("login.html", 200, **slots, **context)
        assert ours.body == theirs.body
        assert ours.headers.items() == theirs.headers.items()
