"""What a checkout takes, in one place: orders validates with it and the gateway documents it.

Two shapes, one meaning: `{"sku", "qty", "unit_price"?}` is an order of one line, `{"lines": [...]}` an
order of several (a cart). `order_lines()` gives both as lines, so the rest of the service knows one shape.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reference_impl.infra.jsontypes import Sku, WholeNumber
from scenarios.policy import DEFAULT_UNIT_PRICE
from scenarios.strategies import MAX_LINES

#: One line's quantity bound (what one buyer may take of one SKU at once).
MAX_LINE_QTY = 100
#: A unit's price bound in cents (100,000.00): beyond it, a typo rather than a price.
MAX_UNIT_PRICE = 10**7


class LineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    qty: WholeNumber = Field(ge=1, le=MAX_LINE_QTY)
    unit_price: WholeNumber = Field(default=DEFAULT_UNIT_PRICE, gt=0, le=MAX_UNIT_PRICE)


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku | None = None
    qty: WholeNumber | None = Field(default=None, ge=1, le=MAX_LINE_QTY)
    unit_price: WholeNumber = Field(default=DEFAULT_UNIT_PRICE, gt=0, le=MAX_UNIT_PRICE)
    lines: list[LineBody] | None = Field(default=None, min_length=1, max_length=MAX_LINES)
    card: str = Field(default="4242424242424242", min_length=4, max_length=32, pattern=r"^[0-9]+$")

    @model_validator(mode="after")
    def _one_shape(self):
        if self.lines is None and (self.sku is None or self.qty is None):
            raise ValueError("give sku and qty (one line) or lines (several)")
        if self.lines is not None and (self.sku is not None or self.qty is not None):
            raise ValueError("give sku and qty or lines, not both")
        if self.lines is not None and len({ln.sku for ln in self.lines}) != len(self.lines):
            raise ValueError("one line per SKU: merge the quantities of a repeated SKU")
        return self

    def order_lines(self) -> list[dict]:
        """The order's lines in the buyer's order: {sku, qty, unit_price}."""
        if self.lines is None:
            return [{"sku": self.sku, "qty": self.qty, "unit_price": self.unit_price}]
        return [ln.model_dump() for ln in self.lines]
