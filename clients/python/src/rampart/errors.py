"""Exceptions raised by the SDK.

Every error the server answers with is an RFC 9457 problem document; :class:`APIError` and its
subclasses carry it whole (``problem``) and its parts (``type``, ``detail``, ``errors``...). No
exception text ever contains the caller's token: the SDK never puts request headers into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .models import Job

PROBLEM_PREFIX = "urn:rampart:problem:"


class RampartError(Exception):
    """Base class of every exception the SDK raises."""


class TransportError(RampartError):
    """The server could not be reached, or the connection broke, after the SDK's retries."""


@dataclass(frozen=True)
class FieldError:
    """One entry of a problem document's ``errors``: a JSON pointer into the request and why."""

    pointer: str
    detail: str


class APIError(RampartError):
    """The server answered with an error status and (usually) a problem document."""

    def __init__(self, status: int, problem: dict[str, Any] | None = None, *,
                 retry_after: float | None = None, method: str = "", path: str = "") -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem or {})
        self.retry_after = retry_after
        self.method = method
        self.path = path
        raw_errors = self.problem.get("errors") or []
        self.errors: list[FieldError] = [
            FieldError(str(e.get("pointer", "")), str(e.get("detail", "")))
            for e in raw_errors if isinstance(e, dict)
        ]
        super().__init__(self._text())

    @property
    def type(self) -> str:
        """The problem type, e.g. ``urn:rampart:problem:lease-lost`` (empty when the body had none)."""
        return str(self.problem.get("type", ""))

    @property
    def slug(self) -> str:
        """The problem type without its ``urn:rampart:problem:`` prefix, e.g. ``lease-lost``."""
        t = self.type
        return t[len(PROBLEM_PREFIX):] if t.startswith(PROBLEM_PREFIX) else t

    @property
    def title(self) -> str:
        return str(self.problem.get("title", ""))

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail", ""))

    @property
    def instance(self) -> str:
        return str(self.problem.get("instance", ""))

    @property
    def pointers(self) -> list[str]:
        """The JSON pointers of the fields at fault (``/args/seconds``), in the server's order."""
        return [e.pointer for e in self.errors]

    def _text(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        text = f"{self.status} {self.slug or 'error'}{where}"
        if self.detail:
            text += f": {self.detail}"
        if self.errors:
            text += " [" + "; ".join(f"{e.pointer}: {e.detail}" for e in self.errors) + "]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, type={self.type!r}, detail={self.detail!r})"


class ValidationError(APIError):
    """400 or 422: the request was malformed or its arguments did not fit; see ``errors``/``pointers``."""


class Unauthorized(APIError):
    """401: the credential was refused (the server never says why)."""


class Forbidden(APIError):
    """403: the caller may not do this (e.g. ``queue-not-allowed``)."""


class NotFound(APIError):
    """404: no such resource, or one the caller may not see (another user's job)."""


class Conflict(APIError):
    """409: e.g. an idempotency key reused with a different request, or a finished job canceled."""


class LeaseLost(Conflict):
    """409 ``lease-lost``: a worker no longer holds the job it reports on; drop it."""


class RateLimited(APIError):
    """429 after the SDK's bounded retries; ``retry_after`` is the server's ``Retry-After`` in seconds."""


class ServerError(APIError):
    """A 5xx answer."""


class ServerUnavailable(ServerError):
    """503 (after the SDK's bounded retries), e.g. while the server shuts down or its store is down."""


class JobError(RampartError):
    """Base of the outcomes :meth:`rampart.Client.wait` raises; ``job`` is the finished job."""

    def __init__(self, job: "Job") -> None:
        self.job = job
        super().__init__(self._text())

    def _text(self) -> str:
        return f"job {self.job.id} ({self.job.task}) ended {self.job.state}"


class JobFailed(JobError):
    """The job ended ``dead``: its attempts were used up, or a worker failed it for good."""

    def _text(self) -> str:
        return super()._text() + (f": {self.job.error}" if self.job.error else "")


class JobCanceled(JobError):
    """The job ended ``canceled``."""


class WaitTimeout(RampartError, TimeoutError):
    """:meth:`rampart.Client.wait` gave up before the job finished; ``job`` is its last known state."""

    def __init__(self, job: "Job", timeout: float) -> None:
        self.job = job
        super().__init__(f"job {job.id} still {job.state} after {timeout:g} s")


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
    503: ServerUnavailable,
}


def error_for(status: int, problem: dict[str, Any] | None, *, retry_after: float | None = None,
              method: str = "", path: str = "") -> APIError:
    """The exception for an error answer."""
    if status == 409 and (problem or {}).get("type") == PROBLEM_PREFIX + "lease-lost":
        cls: type[APIError] = LeaseLost
    else:
        cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(status, problem, retry_after=retry_after, method=method, path=path)
