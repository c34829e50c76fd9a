"""Rampart's Python SDK: a client for the job API and an external worker.

    import rampart
    client = rampart.Client("https://rampart.example.com", token="rmp_...")
    job = client.submit("echo", {"message": "hi"})
    print(client.wait(job.id).result)
"""

from ._version import __version__
from .client import BATCH_SIZE, Client
from .errors import (
    APIError,
    Conflict,
    FieldError,
    Forbidden,
    JobCanceled,
    JobError,
    JobFailed,
    LeaseLost,
    NotFound,
    RampartError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    TransportError,
    Unauthorized,
    ValidationError,
    WaitTimeout,
)
from .models import TERMINAL_STATES, Job, JobEvent, Page, Schedule, ScheduleTick
from .worker import Cancelled, Context, Fail, Retry, Worker

__all__ = [
    "__version__", "BATCH_SIZE", "Client", "Worker", "Context", "Retry", "Fail", "Cancelled",
    "Job", "JobEvent", "Page", "Schedule", "ScheduleTick", "TERMINAL_STATES",
    "RampartError", "TransportError", "APIError", "FieldError", "ValidationError", "Unauthorized",
    "Forbidden", "NotFound", "Conflict", "LeaseLost", "RateLimited", "ServerError",
    "ServerUnavailable", "JobError", "JobFailed", "JobCanceled", "WaitTimeout",
]
