"""The records the API answers with. Timestamps stay RFC 3339 strings, exactly as the server sent them;
``raw`` keeps the whole answer, fields this SDK does not know yet included."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="_Record")

#: States a job never leaves.
TERMINAL_STATES = frozenset({"succeeded", "dead", "canceled"})


@dataclass
class _Record:
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _skip: ClassVar[frozenset[str]] = frozenset({"raw"})

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)} - cls._skip
        record = cls(**{k: v for k, v in data.items() if k in names})
        record.raw = dict(data)
        return record


@dataclass
class Job(_Record):
    id: str = ""
    task: str = ""
    args: Any = None
    queue: str = ""
    priority: int = 0
    state: str = ""
    attempts: int = 0
    max_attempts: int = 0
    run_at: str | None = None
    timeout_seconds: float | None = None
    owner: str | None = None
    idempotency_key: str | None = None
    progress: int = 0
    progress_message: str = ""
    result: Any = None
    error: str | None = None
    cancel_requested: bool = False
    created: str | None = None
    updated: str | None = None
    finished: str | None = None

    @property
    def done(self) -> bool:
        """Whether the job reached a state it never leaves (``succeeded``, ``dead``, ``canceled``)."""
        return self.state in TERMINAL_STATES


@dataclass
class JobEvent(_Record):
    time: str = ""
    from_state: str | None = None
    to: str = ""
    detail: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobEvent":
        event = cls(time=data.get("time", ""), from_state=data.get("from"), to=data.get("to", ""),
                    detail=data.get("detail", ""))
        event.raw = dict(data)
        return event


@dataclass
class Schedule(_Record):
    id: str = ""
    name: str = ""
    task: str = ""
    args: Any = None
    queue: str = ""
    priority: int = 0
    cron: str | None = None
    every_seconds: int | None = None
    time_zone: str = "UTC"
    enabled: bool = True
    owner: str | None = None
    misfire_policy: str = ""
    catch_up_max: int | None = None
    skip_if_running: bool = False
    last_tick: str | None = None
    last_job_id: str | None = None
    next_fire_times: list[str] = field(default_factory=list)
    next_fire_times_local: list[str] = field(default_factory=list)
    created: str | None = None
    updated: str | None = None


@dataclass
class ScheduleTick(_Record):
    fire_time: str = ""
    job_id: str | None = None
    skipped: bool = False
    skip_reason: str | None = None
    recorded: str | None = None


@dataclass
class Page(_Record):
    """One page of a listing: its items and the cursor of the next page (None on the last)."""

    items: list[Any] = field(default_factory=list)
    next_cursor: str | None = None
