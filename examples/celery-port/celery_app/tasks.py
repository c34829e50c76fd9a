"""The two Celery tasks: a region's monthly sales report, and the title of a web page."""

import csv
import datetime
import os
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import requests

from .celery import app

SALES_CSV = Path(os.environ.get("SALES_CSV", Path(__file__).resolve().parent.parent / "data" / "sales.csv"))


class ServerError(Exception):
    """The site answered 5xx: worth another try later."""


@app.task(bind=True, autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=600,
          max_retries=3, time_limit=300)
def generate_report(self, region, month=None):
    month = month or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    self.update_state(state="PROGRESS", meta={"percent": 10, "message": "reading sales"})
    with open(SALES_CSV, newline="") as f:  # an OSError is retried, with back-off
        rows = [r for r in csv.DictReader(f) if r["region"] == region and r["date"].startswith(month + "-")]
    by_day = defaultdict(int)
    for row in rows:
        by_day[row["date"]] += int(row["amount_cents"])
    return {
        "region": region,
        "month": month,
        "orders": len(rows),
        "total_cents": sum(by_day.values()),
        "best_day": max(sorted(by_day), key=by_day.__getitem__) if by_day else None,
    }


class _TitleParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inside, self.title = False, None

    def handle_starttag(self, tag, attrs):
        self.inside = tag == "title" and self.title is None

    def handle_endtag(self, tag):
        self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.title = (self.title or "") + data


def page_title(html):
    parser = _TitleParser()
    parser.feed(html)
    return " ".join(parser.title.split()) if parser.title is not None else None


@app.task(bind=True, autoretry_for=(requests.ConnectionError, requests.Timeout, ServerError),
          retry_backoff=5, retry_backoff_max=300, max_retries=5, time_limit=30)
def scrape_title(self, url):
    response = requests.get(url, timeout=10, headers={"User-Agent": "celery-port-example/1.0"})
    if response.status_code >= 500:
        raise ServerError(f"{url} answered {response.status_code}")
    response.raise_for_status()  # 4xx: an HTTPError, which is not retried
    return {"url": url, "status": response.status_code, "title": page_title(response.text)}
