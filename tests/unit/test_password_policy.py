"""The password policy (NIST SP 800-63B §5.1.1.2): length, common passwords, own names."""

from __future__ import annotations

import importlib.resources

import pytest

from ostiary.accounts import password_policy
from ostiary.accounts.password_policy import common_passwords, problems
from ostiary.settings import PasswordSettings

DEFAULT_MIN = PasswordSettings().min_length


def test_default_minimum_length_is_12() -> None:
    assert DEFAULT_MIN == 12


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3-but-longer",
        "x" * 1024,
        "  twelve chars  ",
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert problems(password, min_length=DEFAULT_MIN, username="alice", email="a@example.com") == []


@pytest.mark.parametrize(
    ("password", "min_length", "message"),
    [
        ("eleven char", 12, "Use at least 12 characters."),
        ("", 12, "Use at least 12 characters."),
        ("a" * 19, 20, "Use at least 20 characters."),
        ("y" * 1025, 12, "Use at most 1024 characters."),
    ],
)
def test_length_limits(password: str, min_length: int, message: str) -> None:
    assert message in problems(password, min_length=min_length)


@pytest.mark.parametrize(
    ("password", "min_length"),
    [
        ("password", 8),
        ("PASSWORD", 8),
        ("Password1", 8),
        ("qwerty123456", 12),
        ("Password1234", 12),
        ("1q2w3e4r5t6y", 12),
        ("  iloveyou1  ", 8),
    ],
)
def test_common_passwords_are_refused_case_insensitively(password: str, min_length: int) -> None:
    assert problems(password, min_length=min_length) == [
        "This is one of the most commonly used passwords; choose another."
    ]


@pytest.mark.parametrize(
    "password", ["alice-wonderland", "ALICE-WONDERLAND", "alice@wonderland.example", "alice"]
)
def test_username_or_email_as_password_is_refused(password: str) -> None:
    found = problems(
        password, min_length=5, username="alice-wonderland", email="alice@wonderland.example"
    )
    assert "Do not use your username or email address as your password." in found


def test_several_problems_are_all_reported() -> None:
    assert len(problems("qwerty", min_length=12, username="qwerty")) == 3


def test_bundled_list_ships_as_package_data_lower_case_and_unique() -> None:
    resource = importlib.resources.files("ostiary.accounts") / "data/common-passwords.txt"
    lines = resource.read_text("utf-8").splitlines()
    assert len(lines) >= 500
    assert all(line == line.strip().lower() and line for line in lines)
    assert len(set(lines)) == len(lines)
    assert {"123456", "password", "qwerty", "iloveyou", "123456789"} <= common_passwords()
    assert password_policy.COMMON_LIST == "data/common-passwords.txt"
