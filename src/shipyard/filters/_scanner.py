"""The filter grammar's comparators and scanner: a cursor that turns text into tokens or a clear error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shipyard.errors import InvalidParameter

__all__ = [
    "EQ",
    "GE",
    "GT",
    "ID_OPS",
    "ILIKE",
    "IN",
    "IS_NOT_NULL",
    "IS_NULL",
    "KEYED_STRING_OPS",
    "LE",
    "LIKE",
    "LIST_OPS",
    "LT",
    "NE",
    "NOT_IN",
    "NULL_OPS",
    "NUMERIC_OPS",
    "STRING_OPS",
    "Column",
    "Scanner",
]

# Comparators, spelled as they appear in `Comparison.op` (normalised to upper case).
EQ: Final = "="
NE: Final = "!="
GT: Final = ">"
GE: Final = ">="
LT: Final = "<"
LE: Final = "<="
LIKE: Final = "LIKE"
ILIKE: Final = "ILIKE"
IN: Final = "IN"
NOT_IN: Final = "NOT IN"
IS_NULL: Final = "IS NULL"
IS_NOT_NULL: Final = "IS NOT NULL"

NUMERIC_OPS: Final = frozenset({EQ, NE, GT, GE, LT, LE})
STRING_OPS: Final = frozenset({EQ, NE, LIKE, ILIKE, IN, NOT_IN})
ID_OPS: Final = frozenset({EQ, NE, IN, NOT_IN})
KEYED_STRING_OPS: Final = frozenset({EQ, NE, LIKE, ILIKE, IS_NULL, IS_NOT_NULL})
LIST_OPS: Final = frozenset({IN, NOT_IN})
NULL_OPS: Final = frozenset({IS_NULL, IS_NOT_NULL})


_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[\w.\-/:]+")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE]-?\d+)?")  # as MLflow: no "+" anywhere
_WORD = re.compile(r"[A-Za-z_]+")
_OPERATOR_CHARS = "=!<>"
_SYMBOL_OPS = ("!=", ">=", "<=", "==", "<>", "=", ">", "<")
_WRONG_SYMBOLS = {"==": "=", "<>": "!="}


@dataclass(frozen=True)
class Column:
    """A column as written: its prefix (None for a bare attribute), its key, and its text for messages."""

    prefix: str | None
    name: str
    text: str


class Scanner:
    """A cursor over one filter or order_by string that raises InvalidParameter on the first problem."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def fail(self, message: str) -> InvalidParameter:
        return InvalidParameter(f"Invalid {self.what} {self.text!r}: {message}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def rest_word(self) -> str:
        """The next whitespace-delimited chunk, for messages."""
        end = self.pos
        while end < len(self.text) and not self.text[end].isspace():
            end += 1
        return self.text[self.pos : end]

    def found(self) -> str:
        """What stands at the cursor, for messages: the next chunk quoted, "a space" or "the end"."""
        if self.at_end():
            return "the end"
        if self.peek().isspace():
            return "a space"
        return repr(self.rest_word())

    def keyword(self) -> str | None:
        """The upper-cased word at the cursor, consumed, if it stands alone (whitespace or the end after it)."""
        match = _WORD.match(self.text, self.pos)
        if match is None or (match.end() < len(self.text) and not self.text[match.end()].isspace()):
            return None
        self.pos = match.end()
        return match.group().upper()

    def word(self) -> str | None:
        match = _WORD.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        """A quoted run. Doubling the quote or a backslash before it (or before a backslash) escapes it."""
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            nxt = self.text[self.pos + 1] if self.pos + 1 < len(self.text) else ""
            if char == "\\" and nxt in (quote, "\\"):
                out.append(nxt)
                self.pos += 2
            elif char == quote and nxt == quote:
                out.append(quote)
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise self.fail(f"the quote {quote} opened at position {start} is never closed.")

    def column(self) -> Column:
        start = self.pos
        if self.peek() == "(":
            raise self.fail("parentheses are not supported; write comparisons joined by AND, without grouping.")
        first = self._name_part(
            "expected a column such as metrics.<key>, params.<key>, tags.<key> or an attribute name"
        )
        prefix: str | None = None
        name = first
        if self.peek() == ".":
            self.pos += 1
            prefix = first
            if self.peek() in ('"', "`"):
                name = self.quoted()
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if match is None:
                    raise self.fail(
                        f"expected a key after '{self.text[start : self.pos]}' (quote keys with spaces "
                        f"or symbols: {prefix}.`my key`), found {self.found()}."
                    )
                name = match.group()
                self.pos = match.end()
        text = self.text[start : self.pos]
        nxt = self.peek()
        if nxt and not nxt.isspace() and nxt not in _OPERATOR_CHARS:
            raise self.fail(
                f"unexpected {nxt!r} after column {text!r}. Quote keys holding spaces or symbols with "
                'backticks or double quotes, e.g. metrics.`my metric` or tags."a b".'
            )
        return Column(prefix, name, text)

    def _name_part(self, expected: str) -> str:
        if self.peek() in ('"', "`"):
            return self.quoted()
        match = _BARE_NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"{expected}, found {self.found()}.")
        self.pos = match.end()
        return match.group()

    def operator(self, column: str) -> str:
        for symbol in _SYMBOL_OPS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                if symbol in _WRONG_SYMBOLS:
                    raise self.fail(f"{symbol!r} after {column!r} is not a comparator; use {_WRONG_SYMBOLS[symbol]!r}.")
                return symbol
        start = self.pos
        first = (self.word() or "").upper()
        found = self._word_operator(first, column)
        if found is not None:
            return found
        self.pos = start
        hint = ""
        if "." in column and first and first not in ("NOT", "IS"):
            hint = " Quote keys that hold spaces, e.g. metrics.`my metric`."
        raise self.fail(
            f"expected a comparator after {column!r} (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, "
            f"IS NOT NULL), found {self.found()}.{hint}"
        )

    def _word_operator(self, first: str, column: str) -> str | None:
        if first in (LIKE, ILIKE, IN):
            return first
        if first not in ("NOT", "IS"):
            return None
        self.skip_ws()
        second = (self.word() or "").upper()
        if first == "NOT" and second == IN:
            return NOT_IN
        if first == "NOT" and second in (LIKE, ILIKE):
            raise self.fail(f"'NOT {second}' is not supported after {column!r}; MLflow's grammar has no NOT LIKE.")
        if first == "IS" and second == "NULL":
            return IS_NULL
        if first == "IS" and second == "NOT":
            self.skip_ws()
            if (self.word() or "").upper() == "NULL":
                return IS_NOT_NULL
        return None

    def scalar(self, after: str) -> str | int | float:
        char = self.peek()
        if char in ("'", '"'):
            return self.quoted()
        match = _NUMBER.match(self.text, self.pos)
        if match is not None:
            end = match.end()
            if end == len(self.text) or not (self.text[end].isalnum() or self.text[end] in "._"):
                self.pos = end
                literal = match.group()
                if any(c in literal for c in ".eE"):
                    return float(literal)
                return int(literal)
        raise self.fail(f"expected a quoted string or a number after {after!r}, found {self.found()}.")

    def values(self, after: str) -> tuple[str | int | float, ...]:
        if self.peek() != "(":
            raise self.fail(f"expected a parenthesised list such as ('a', 'b') after {after!r}, found {self.found()}.")
        self.pos += 1
        items: list[str | int | float] = []
        while True:
            self.skip_ws()
            if self.peek() == ")" and items:
                break
            if self.peek() == ")":
                raise self.fail(f"the list after {after!r} is empty; give at least one value.")
            items.append(self.scalar(after))
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == ")":
                break
            raise self.fail(f"expected ',' or ')' in the list after {after!r}, found {self.found()}.")
        self.pos += 1
        return tuple(items)
