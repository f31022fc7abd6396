"""Translate a parsed SCIM filter into a SQLAlchemy Core condition (RFC 7644 §3.4.2.2),
and a ``sortBy`` into a column (§3.4.2.3).

Every leaf is two-valued (never SQL NULL), so ``not`` means what §3.4.2.2 says even for
unassigned attributes: ``ne`` and ``not (x eq v)`` are true when ``x`` has no value.
Comparisons on a multi-valued attribute hold when one entry satisfies them, as an EXISTS
subquery over its child table; a value path ``emails[type eq "work" and value co "@x"]``
asks that one and the same entry satisfies the whole inner filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true

from ostiary.domain import scim_filter as parsed
from ostiary.storage.scim_catalogue import Attr, Catalogue, Condition, MultiValued, Ordering

# Strings starting with a prefix sort below prefix + the last code point: a range an
# ordinary B-tree index answers (LIKE needs a C collation or a special operator class).
_TOP = "\U0010ffff"


class Unfilterable(ValueError):
    """The filter names what the catalogue cannot compare (SCIM answers ``invalidFilter``
    with this message)."""


def to_sql(node: parsed.Filter, catalogue: Catalogue, dialect: str) -> Condition:
    return _Translator(catalogue, dialect).node(node)


class _Translator:
    def __init__(self, catalogue: Catalogue, dialect: str) -> None:
        self.cat = catalogue
        self.dialect = dialect

    def node(self, node: parsed.Filter, row: dict[str, Attr] | None = None) -> ColumnElement[bool]:
        if isinstance(node, parsed.And):
            return and_(self.node(node.left, row), self.node(node.right, row))
        if isinstance(node, parsed.Or):
            return or_(self.node(node.left, row), self.node(node.right, row))
        if isinstance(node, parsed.Not):
            return not_(self.node(node.inner, row))
        if isinstance(node, parsed.ValuePath):
            multi = self._multi(node.path)
            return self._exists(multi, lambda subs: self.node(node.filter, subs))
        if row is not None:
            attr = row.get(node.path.attr)
            if attr is None or node.path.sub is not None or node.path.schema:
                raise Unfilterable(f"{node.path.dotted()!r} is not a sub-attribute here")
            return self.leaf(node, attr)
        self._check_schema(node.path)
        single = self.cat.singles.get(node.path.dotted())
        if single is not None:
            return self.leaf(node, single)
        multi = self._multi(node.path)
        sub = node.path.sub or multi.default_sub

        def condition(subs: dict[str, Attr]) -> ColumnElement[bool]:
            attr = subs.get(sub)
            if attr is None:
                raise Unfilterable(f"{node.path.dotted()!r} cannot be filtered on")
            if isinstance(node, parsed.Present) and node.path.sub is None:
                return true()
            return self.leaf(node, attr)

        return self._exists(multi, condition)

    def _check_schema(self, path: parsed.AttrPath) -> None:
        if path.schema is not None and path.schema.lower() not in self.cat.schemas:
            raise Unfilterable(f"unknown schema {path.schema!r}")

    def _multi(self, path: parsed.AttrPath) -> MultiValued:
        self._check_schema(path)
        multi = self.cat.multi.get(path.attr)
        if multi is None:
            raise Unfilterable(f"{path.dotted()!r} cannot be filtered on")
        return multi

    def _exists(self, multi: MultiValued, condition: Any) -> ColumnElement[bool]:
        clauses = [
            exists(select(source.owner).where(source.owner == self.cat.key, condition(source.subs)))
            for source in multi.sources
        ]
        return or_(*clauses) if len(clauses) > 1 else clauses[0]

    def leaf(self, node: parsed.Compare | parsed.Present, attr: Attr) -> ColumnElement[bool]:
        col = attr.column
        if isinstance(node, parsed.Present):
            present = col.is_not(None)
            return and_(present, col != "") if attr.kind == "string" else present
        op, value = node.op, node.value
        if value is None:
            # RFC 7643 §2.5: null is the same state as unassigned.
            if op == "eq":
                return not_(self.leaf(parsed.Present(node.path), attr))
            if op == "ne":
                return self.leaf(parsed.Present(node.path), attr)
            raise Unfilterable(f"null cannot be compared with {op}")
        operand = self._operand(node, attr)
        if op == "ne":
            return or_(col.is_(None), col != operand)
        return and_(col.is_not(None), self._compare(col, op, operand, attr))

    def _operand(self, node: parsed.Compare, attr: Attr) -> Any:
        value = node.value
        if attr.kind == "boolean":
            if not isinstance(value, bool):
                raise Unfilterable(f"{node.path.dotted()!r} is a boolean")
            # RFC 7644 §3.4.2.2: ordering comparisons on booleans are a 400 invalidFilter.
            if node.op not in ("eq", "ne"):
                raise Unfilterable(f"{node.op} is not defined for booleans")
            return (not value) if attr.negated else value
        if not isinstance(value, str):
            raise Unfilterable(f"{node.path.dotted()!r} is compared with a string")
        if attr.kind == "datetime":
            if node.op in ("co", "sw", "ew"):
                raise Unfilterable(f"{node.op} is not defined for dateTime attributes")
            return _epoch(value)
        return value if attr.case_exact else value.lower()

    def _compare(self, col: Any, op: str, operand: Any, attr: Attr) -> ColumnElement[bool]:
        if self.dialect == "postgresql" and attr.kind == "string" and op not in ("eq", "co"):
            # Code-point order whatever the database collation (RFC 7644 §3.4.2.2 leaves
            # ordering of strings to "lexical" comparison); a no-op on our C columns.
            col = col.collate("C")
        if op == "eq":
            return col == operand
        if op == "gt":
            return col > operand
        if op == "ge":
            return col >= operand
        if op == "lt":
            return col < operand
        if op == "le":
            return col <= operand
        if op == "sw":
            return and_(
                col >= operand,
                col < operand + _TOP,
                func.substr(col, 1, len(operand)) == operand,
            )
        if op == "ew":
            if not operand:
                return true()
            return and_(
                func.length(col) >= len(operand),
                func.substr(col, func.length(col) - len(operand) + 1) == operand,
            )
        if op == "co":
            position = func.strpos if self.dialect == "postgresql" else func.instr
            return position(col, operand) > 0
        return false()


def _epoch(value: str) -> float:
    """RFC 7643 §2.3.5: xsd:dateTime; a zone is required so the instant is unambiguous."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Unfilterable(f"{value!r} is not a dateTime") from None
    if moment.tzinfo is None:
        raise Unfilterable(f"{value!r} has no time zone")
    return moment.timestamp()


def sort_column(catalogue: Catalogue, path: parsed.AttrPath) -> Ordering | None:
    """The column ``sortBy`` names, None when it names nothing sortable."""
    attr = catalogue.singles.get(path.dotted())
    if attr is not None:
        return None if attr.kind == "boolean" else attr.column
    multi = catalogue.multi.get(path.attr)
    if multi is None or len(multi.sources) != 1 or path.sub not in (None, "value"):
        return None
    source = multi.sources[0]
    if "primary" not in source.subs:
        return None
    # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else the
    # first one.
    value, primary = source.subs["value"].column, source.subs["primary"].column
    first = (
        select(value)
        .where(source.owner == catalogue.key)
        .order_by(primary.desc(), value)
        .limit(1)
        .scalar_subquery()
    )
    return first


def ordered(column: Ordering, *, descending: bool) -> Ordering:
    return column.desc() if descending else column.asc()
