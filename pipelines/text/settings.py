"""Settings of the text workflows answered directly over HTTP (not as jobs): how much work one
request may ask for, and how long it may run. Longer work belongs in a job."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TextSettings(BaseModel):
    direct_max_generations: int = Field(
        96,
        ge=1,
        description="most generate calls one /v1/translations or /v1/copywriting request may "
        "need at worst (texts x target languages x max_attempts); beyond, 400 too_much_work",
    )
    direct_timeout_s: float = Field(
        600.0,
        gt=0,
        description="wall time one such request may take; beyond, its work is stopped and it "
        "answers 504 timeout",
    )
