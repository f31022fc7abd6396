"""A domain type's fixed column list and its one mapper (``storage.repos._base.RowType``)."""

from __future__ import annotations

from ostiary.domain.keys import StoredKey
from ostiary.storage.repos.keys import KEY
from ostiary.storage.repos.users import USER, USER_COLUMNS
from ostiary.storage.tables import signing_keys, users


def test_columns_are_named_in_the_order_the_mapper_reads_them() -> None:
    assert USER.names[:4] == ("id", "username", "email", "password_hash")
    assert USER.sql("u") == USER_COLUMNS and USER_COLUMNS.startswith("u.id, u.username, ")
    assert USER.width == len(USER.columns) == 11
    assert all(column.table is users for column in USER.columns)


def test_a_users_row_from_the_sqlite_driver_reads_json_text_and_integer_booleans() -> None:
    row = ("u1", "ann", None, None, 1, 10, 20, 0, None, 1, '{"locale": "fr"}')
    user = USER.build(row)
    assert user.disabled is True and user.email_verified is False
    assert user.phone_number_verified is True and user.profile == {"locale": "fr"}
    # The same row as SQLAlchemy Core hands it back (decoded JSON, booleans) is equal.
    core = ("u1", "ann", None, None, True, 10, 20, False, None, True, {"locale": "fr"})
    assert USER.build(core) == user


def test_insert_values_of_a_dataclass_read_back_to_an_equal_value() -> None:
    key = StoredKey("k1", "ES256", b"sealed", {"kty": "EC"}, 1, 2, None, None)
    values = KEY.values(key)
    assert list(values) == [c.name for c in signing_keys.columns]
    assert KEY.build(tuple(values.values())) == key
