"""The Celery application: broker, result backend, routing, and the nightly report on beat."""

import os

from celery import Celery
from celery.schedules import crontab

app = Celery("celery_app", include=["celery_app.tasks"])
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
    result_backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    # A task whose worker dies is delivered again once the visibility timeout has passed.
    task_acks_late=True,
    broker_transport_options={"visibility_timeout": 3600},
    task_routes={
        "celery_app.tasks.generate_report": {"queue": "reports"},
        "celery_app.tasks.scrape_title": {"queue": "scraping"},
    },
    beat_schedule={
        "nightly-eu-report": {
            "task": "celery_app.tasks.generate_report",
            "schedule": crontab(minute=30, hour=2),
            "kwargs": {"region": "eu"},
        },
    },
)
