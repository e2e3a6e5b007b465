"""The `publishers:` section of a campaign file: pydantic models only, no I/O or plugins."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Keys that would put a secret into the campaign file; they must name an env var or a Prefect
# Secret block instead (`token_env`, `token_secret_block`).
_SECRET_KEY = re.compile(
    r"(token|password|secret|api_key|apikey|private_key|webhook)$", re.IGNORECASE
)


class RetryBudget(BaseModel):
    """How hard one publish pass tries a target before leaving its deliveries pending."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=4, ge=1)
    base_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=30.0, ge=0)
    budget_seconds: float = Field(default=60.0, ge=0)


class PublisherSpec(BaseModel):
    """One entry of `publishers:`: `kind` names an entry point; other keys are its options."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(min_length=1)
    name: str | None = None
    enabled: bool = True
    retry: RetryBudget = RetryBudget()

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> PublisherSpec:
        for key in self.options:
            if _SECRET_KEY.search(key):
                raise ValueError(
                    f"'{key}' looks like a secret: campaign files never hold secrets; "
                    f"name the environment variable ('{key}_env') or the Prefect Secret "
                    f"block ('{key}_secret_block') that holds it"
                )
        if self.name is not None and not _NAME.match(self.name):
            raise ValueError("name must be 1-63 letters, digits, '_', '.' or '-'")
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def label(self) -> str:
        """The name deliveries are recorded under (defaults to the kind)."""
        return self.name or self.kind


class Publishers(BaseModel):
    """The whole section: a list of publisher entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: tuple[PublisherSpec, ...] = ()
