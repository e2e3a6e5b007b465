"""The publisher protocol, the deliveries publishers plan, and loading them as entry points."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, model_validator

from dtf.errors import PublishError
from dtf.store.results import ResultStore
from dtf.validation.facts import RunFacts
from dtf.validation.gate import ValidationOutcome

GROUP = "dtf.publishers"
SECRET_SUFFIX = "_env"  # options naming an environment variable that holds a secret
BLOCK_SUFFIX = "_secret_block"  # options naming a Prefect Secret block instead
_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")  # what Prefect accepts as a block name


class PublisherOptions(BaseModel):
    """Base of every publisher's options: strict, and secrets only by reference.

    A secret `<s>` is read from the environment variable named by option `<s>_env`, or, when
    the campaign gives `<s>_secret_block: NAME`, from the Prefect Secret block NAME (resolved
    by the flows layer; dtf never imports Prefect). Those keys are gathered in `secret_blocks`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = 10.0
    secret_blocks: dict[str, str] = {}  # secret -> Prefect Secret block name

    @model_validator(mode="before")
    @classmethod
    def _gather_secret_blocks(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        blocks = dict(data.pop("secret_blocks", None) or {})
        for key in [k for k in data if str(k).endswith(BLOCK_SUFFIX)]:
            blocks[str(key)[: -len(BLOCK_SUFFIX)]] = data.pop(key)
        for secret, block in blocks.items():
            _check_block(cls, str(secret), block)
        if blocks:
            data["secret_blocks"] = blocks
        return data

    def secret_names(self) -> list[str]:
        """The environment variables this publisher reads secrets from."""
        return [str(v) for k, v in self.model_dump().items() if k.endswith(SECRET_SUFFIX) and v]

    def block_names(self) -> list[str]:
        """The Prefect Secret blocks this publisher reads secrets from."""
        return sorted(set(self.secret_blocks.values()))

    def has_secret(self, secret: str) -> bool:
        """Whether secret `secret` is configured at all (a block, or a named variable)."""
        return secret in self.secret_blocks or bool(getattr(self, secret + SECRET_SUFFIX, None))


def _check_block(cls: type[BaseModel], secret: str, block: object) -> None:
    if secret + SECRET_SUFFIX not in cls.model_fields:
        known = [k[: -len(SECRET_SUFFIX)] for k in cls.model_fields if k.endswith(SECRET_SUFFIX)]
        raise ValueError(
            f"'{secret}{BLOCK_SUFFIX}': this publisher has no secret '{secret}' "
            f"(its secrets: {', '.join(known) or 'none'})"
        )
    if not isinstance(block, str) or not _BLOCK_NAME.match(block):
        raise ValueError(
            f"'{secret}{BLOCK_SUFFIX}' must name a Prefect Secret block "
            "(lowercase letters, digits and '-')"
        )


@dataclass(frozen=True)
class PublishInput:
    """What publishers plan from: the run's facts and its validation, if it was validated."""

    facts: RunFacts
    validation: ValidationOutcome | None = None

    @property
    def verdict(self) -> str:
        """'passed' only if the run passed and the gate did too."""
        gate_ok = self.validation is None or self.validation.passed
        return "passed" if self.facts.verdict == "passed" and gate_ok else "failed"


@dataclass(frozen=True)
class Delivery:
    """One message to one target, planned before anything is sent.

    `key` identifies it within its publisher and kind (a cluster fingerprint, "summary"); with
    the run and publisher name it forms the outbox's idempotency key.
    """

    kind: str
    key: str
    target: str
    body: Mapping[str, Any]


@dataclass
class DeliveryContext:
    """What a publisher may use while delivering: the store, the run, other deliveries' refs."""

    store: ResultStore
    run_id: str
    name: str
    delivery_id: str
    env: Mapping[str, str]
    remote_ref: Callable[[str], str | None]
    blocks: Mapping[str, str] = field(default_factory=dict)  # resolved Prefect Secret blocks

    def sibling_ref(self, kind: str, key: str) -> str | None:
        """The ref of another delivery of the same run and publisher, once it was sent."""
        return self.remote_ref(delivery_id(self.run_id, self.name, kind, key))

    def secret(self, name: str) -> str:
        """The secret in environment variable `name`; a missing one leaves the row pending."""
        value = self.env.get(name, "")
        if not value:
            raise PublishError(f"environment variable {name} is not set (it holds the secret)")
        return value

    def secret_of(self, options: PublisherOptions, secret: str) -> str:
        """Secret `secret` of a publisher: from its Prefect Secret block, else its variable."""
        block = options.secret_blocks.get(secret)
        if block is None:
            return self.secret(str(getattr(options, secret + SECRET_SUFFIX)))
        value = self.blocks.get(block, "")
        if not value:
            raise PublishError(
                f"Prefect Secret block '{block}' (the {secret}) was not loaded for this delivery: "
                "deliver it from the campaign flow or `dtf publish`, which load Secret blocks"
            )
        return value


class Publisher(Protocol):
    """A publishing target: plans deliveries from a run, then delivers each one.

    `deliver` must be safe to call again for the same delivery (after a timeout, a crash, or
    a `dtf publish --retry`): it looks the message up on the target before creating it, and
    returns the target's reference (issue key, message ts, comment id).
    """

    Options: ClassVar[type[PublisherOptions]]

    def plan(self, run: PublishInput) -> list[Delivery]: ...

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str: ...


PublisherFactory = Callable[[PublisherOptions], Publisher]


def load_publisher_class(kind: str) -> Any:
    """The publisher class registered under entry point `kind` in group dtf.publishers."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if not found:
        known = ", ".join(sorted(ep.name for ep in entry_points(group=GROUP))) or "none"
        raise PublishError(f"no publisher '{kind}' is installed (entry points: {known})")
    return found[0].load()


def build_publisher(kind: str, options: Mapping[str, Any]) -> tuple[Publisher, PublisherOptions]:
    """Load publisher `kind` and construct it from its (validated) options."""
    cls = load_publisher_class(kind)
    parsed: PublisherOptions = cls.Options.model_validate(dict(options))
    publisher: Publisher = cls(parsed)
    return publisher, parsed


def short_hash(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def delivery_id(run_id: str, name: str, kind: str, key: str) -> str:
    """The outbox's idempotency key: the same run, publisher and message give the same id."""
    key = key if len(key) <= 64 else short_hash(key, 24)
    return f"{run_id}/{name}/{kind}/{key}"
