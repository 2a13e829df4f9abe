"""The native API's request fields as pydantic types, read by the rules every Shipyard route reads fields by.

Each type keeps the rules of `shipyard.server._request.Fields`: a missing or null value takes the
field's default, an integer may come as a numeric string (as protobuf JSON sends int64), a boolean as ``true`` or
``false`` in any case; anything else is refused with the same INVALID_PARAMETER_VALUE message, raised as a pydantic
error of type `INVALID_PARAMETER` that `shipyard.server._errors` answers as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError, PydanticUseDefault

from shipyard.errors import InvalidParameter
from shipyard.server._errors import INVALID_PARAMETER
from shipyard.wire.tracking import decode_int

__all__ = ["Flag", "Integer", "MaybeFlag", "Required", "Text", "refusal", "within"]


def refusal(exc: InvalidParameter) -> PydanticCustomError:
    """A Shipyard refusal as a pydantic error, so it can be raised from a validator with its message and code."""
    return PydanticCustomError(INVALID_PARAMETER, "{message}", {"message": exc.message, "error_code": exc.error_code})


def _name(info: ValidationInfo) -> str:
    return info.field_name or "value"


def _text(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise PydanticUseDefault
    if not isinstance(value, str):
        raise refusal(InvalidParameter(f"Invalid value {value!r} for parameter '{_name(info)}': expected a string."))
    return value


def _required(value: Any, info: ValidationInfo) -> Any:
    if value is None or value == "":
        raise refusal(InvalidParameter(f"Missing value for required parameter '{_name(info)}'."))
    return _text(value, info)


def _integer(value: Any, info: ValidationInfo) -> Any:
    if value is None or value == "":
        raise PydanticUseDefault
    try:
        return decode_int(value, _name(info))
    except InvalidParameter as exc:
        raise refusal(exc) from None


def _flag(value: Any, info: ValidationInfo) -> Any:
    if value is None or value == "":
        raise PydanticUseDefault
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise refusal(InvalidParameter(f"Invalid value {value!r} for parameter '{_name(info)}': expected true or false."))


def _maybe_flag(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise PydanticUseDefault
    if value == "":  # sent, but empty: false, as `Fields.boolean` reads it
        return False
    return _flag(value, info)


Text = Annotated[str | None, BeforeValidator(_text)]
"""An optional string (default None)."""
Required = Annotated[str, BeforeValidator(_required), Field(min_length=1)]
"""A required, non-empty string."""
Integer = Annotated[int | None, BeforeValidator(_integer)]
"""An optional integer: a JSON number or a numeric string."""
Flag = Annotated[bool, BeforeValidator(_flag)]
"""A boolean: JSON true/false, or ``true``/``false`` in a query string."""
MaybeFlag = Annotated[bool | None, BeforeValidator(_maybe_flag)]
"""A boolean that may be left out (None: leave the setting as it is)."""


def within(most: int, *, as_sent: bool = False) -> BeforeValidator:
    """Read an integer in ``1..most``, refused as ``Invalid value … for 'limit': expected an integer in 1..most.``.

    Used after ``Field(ge=1, le=most)``, which the schema shows: ``Annotated[int, Field(ge=1, le=500), within(500)]``
    (a constraint placed after a validator would appear in the schema as an unknown keyword).

    Args:
        most: the largest value allowed.
        as_sent: quote the value as the client wrote it and accept ASCII digits only (the history's ``limit``);
            otherwise read it as `Integer` does and quote the number.
    """

    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "":
            raise PydanticUseDefault
        if as_sent:
            text = str(value)
            if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= most:
                raise refusal(InvalidParameter(_out_of_range(text, _name(info), most)))
            return int(text)
        number = _integer(value, info)
        if not 0 < number <= most:
            raise refusal(InvalidParameter(_out_of_range(number, _name(info), most)))
        return number

    return BeforeValidator(check)


def _out_of_range(value: object, name: str, most: int) -> str:
    return f"Invalid value {value!r} for '{name}': expected an integer in 1..{most}."
