"""What the cart takes, in one place: the cart service validates with it and the gateway documents it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from reference_impl.infra.jsontypes import WholeNumber

MAX_QTY = 99          # the schema's CHECK too: a basket line beyond this is a typo or a reseller
MAX_LINES = 50
User = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,100}$")]
Sku = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


class QtyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qty: WholeNumber = Field(ge=1, le=MAX_QTY)
