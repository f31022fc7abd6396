"""Values that broke servers before, as Hypothesis strategies shared by the fuzz tests:
lone surrogates and control characters (text strategies leave them out by default),
integers beyond 64 bits, and email addresses at odd or special-use domains."""

from __future__ import annotations

from hypothesis import strategies as st

ODD_EMAILS = st.sampled_from(
    [
        "notanemail",
        "a@b",
        "x@localhost",
        "a@example.test",
        "a@[127.0.0.1]",
        '"q u"@example.com',
        "a@-bad-.com",
        "a@b..c",
        "a@xn--",
        "ü@exämple.de",
        "a@" + "x" * 300 + ".com",
        "a\r\n@example.com",
    ]
)
# Surrogates (category Cs) and controls (Cc): text hypothesis leaves out by default.
AWKWARD = st.text(st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Cf"]), max_size=6)
TEXT = st.one_of(
    st.text(max_size=20),
    AWKWARD,
    st.builds(lambda a, b: a + b, st.text(max_size=8), AWKWARD),
    ODD_EMAILS,
)
HUGE = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 3, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 3),
    st.sampled_from([2**64, 2**70, 10**400 // 10**300, -(2**64)]),
)
