"""The Celery application before the port: ``celery -A celery_app worker -B -Q reports,scraping``."""

from .celery import app

__all__ = ["app"]
