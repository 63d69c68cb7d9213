"""JSON field types that take what the OpenAPI document says and nothing else.

Pydantic's lax mode turns `false` into 0, `"5"` into 5 and `0` into false: a request the document calls
invalid would be accepted. Its strict mode refuses `667.0` for an integer, which JSON Schema calls an
integer, and (FastAPI validating parsed Python objects) refuses a date given as text. These sit between:
the JSON type must be the documented one, then the usual conversion applies.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints, WithJsonSchema

from scenarios.policy import SKU_MAX_LEN
from scenarios.strategies import Strategy, parse


def _number(v):
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        raise ValueError("expected a number")
    return v


def _whole(v):
    _number(v)
    if isinstance(v, float) and not v.is_integer():
        raise ValueError("expected a whole number")
    return v


def _flag(v):
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def _text(v):
    if not isinstance(v, str):
        raise ValueError("expected text")
    return v


def _strategy(v):
    return parse(v) if isinstance(v, str) else v


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Number = Annotated[float, BeforeValidator(_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]
#: A SKU as every service spells it: letters, digits and `._:-`, at most SKU_MAX_LEN.
Sku = Annotated[str, StringConstraints(min_length=1, max_length=SKU_MAX_LEN, pattern=r"^[A-Za-z0-9._:-]+$")]
#: A strategy by name, case and spaces forgiven; an unknown one lists the valid names (scenarios.strategies).
StrategyName = Annotated[Strategy, BeforeValidator(_strategy)]
#: An RFC 3339 time with its zone, as text: a bare number (`0`) or a zone-less time is refused, not guessed.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_text)]


def rounded(places: int, low: float, high: float, text: str):
    """A decimal: a JSON number in [low, high], rounded half-even to `places` decimals (a price of 1.005 is
    1.00: JSON numbers are binary floats, and "at most two decimals" would refuse 0.07 sent as
    0.07000000000000001), or decimal text matching `text` (which spells the same range, exactly)."""
    step, pattern = Decimal(1).scaleb(-places), re.compile(text)

    def parse(v):
        if isinstance(v, str):
            if not pattern.fullmatch(v):
                raise ValueError(f"expected a number, or decimal text matching {text}")
            return Decimal(v)
        return _number(v)

    return Annotated[Decimal, BeforeValidator(parse), Field(ge=low, le=high),
                     AfterValidator(lambda d: d.quantize(step, ROUND_HALF_EVEN)),
                     WithJsonSchema({"anyOf": [{"type": "number", "minimum": low, "maximum": high},
                                               {"type": "string", "pattern": text}]})]
