"""What a checkout takes, in one place: orders validates with it and the gateway documents it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_impl.infra.jsontypes import WholeNumber
from scenarios.policy import DEFAULT_UNIT_PRICE, SKU_MAX_LEN

Sku = Annotated[str, StringConstraints(min_length=1, max_length=SKU_MAX_LEN, pattern=r"^[A-Za-z0-9._:-]+$")]


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    qty: WholeNumber = Field(ge=1, le=100)
    card: str = Field(default="4242424242424242", min_length=4, max_length=32, pattern=r"^[0-9]+$")
    unit_price: WholeNumber = Field(default=DEFAULT_UNIT_PRICE, gt=0, le=10**7)
