"""The two tasks on a Rampart worker. Their names, schemas, queues, time limits and retry policies are
declared in rampart.toml; this module only runs them."""

import csv
import datetime
import os
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import requests

import rampart

SALES_CSV = Path(os.environ.get("SALES_CSV", Path(__file__).resolve().parent.parent / "data" / "sales.csv"))

# What `celery -A celery_app worker -Q reports,scraping -c 4` said. URL and token: RAMPART_URL, RAMPART_TOKEN.
worker = rampart.Worker(rampart.Client(), queues=["reports", "scraping"], concurrency=4)


@worker.task("reports.generate")
def generate_report(args, ctx):
    region, month = args["region"], args.get("month")
    month = month or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    ctx.progress(10, "reading sales")
    with open(SALES_CSV, newline="") as f:  # an exception fails the attempt: retried, with back-off
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


@worker.task("scrape.title")
def scrape_title(args, ctx):
    url = args["url"]
    try:
        response = requests.get(url, timeout=10, headers={"User-Agent": "celery-port-example/1.0"})
        if response.status_code >= 500:
            raise rampart.Retry(f"{url} answered {response.status_code}")
        response.raise_for_status()
    except requests.HTTPError as exc:  # 4xx: no retry will help
        raise rampart.Fail(str(exc)) from None
    # Any other exception (ConnectionError, Timeout) fails the attempt; the server retries it.
    return {"url": url, "status": response.status_code, "title": page_title(response.text)}
