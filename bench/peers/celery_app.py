"""The Celery peer (bench/peers/celery.sh): one no-op task on the queue `bench`, Redis as broker and result
backend (CELERY_BROKER_URL, CELERY_RESULT_BACKEND). `python3 celery_app.py TOTAL` waits for the worker to answer
a ping, sends TOTAL tasks with apply_async over one producer connection (Celery has no batch submit), waits for
every result and prints `SENT <epoch ms before the first send> <epoch ms after the last> <epoch ms of the last
date_done> <tasks with SUCCESS>`."""
import datetime
import json
import os
import sys
import time

from celery import Celery

app = Celery("bench_peer", broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.task_default_queue = "bench"
app.conf.worker_hijack_root_logger = False


@app.task(name="bench.noop")
def noop():
    return None


def now_ms():
    return int(time.time() * 1000)


if __name__ == "__main__":
    import redis

    n = int(sys.argv[1])
    backend = redis.Redis.from_url(os.environ["CELERY_RESULT_BACKEND"])
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):  # the worker is up and consuming
        if time.monotonic() > deadline:
            sys.exit("the Celery worker did not answer a ping within 60 s")
    t0 = now_ms()
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            noop.apply_async(producer=producer)
    t1 = now_ms()
    deadline = time.monotonic() + 900
    while backend.dbsize() < n:
        if time.monotonic() > deadline:
            sys.exit(f"{backend.dbsize()} of {n} results after 900 s")
        time.sleep(0.2)
    keys = backend.keys("celery-task-meta-*")
    last, ok = 0, 0
    for i in range(0, len(keys), 1000):
        for raw in backend.mget(keys[i:i + 1000]):
            meta = json.loads(raw)
            ok += meta["status"] == "SUCCESS"
            done = datetime.datetime.fromisoformat(meta["date_done"])
            if done.tzinfo is None:  # Celery writes UTC without an offset
                done = done.replace(tzinfo=datetime.timezone.utc)
            last = max(last, int(done.timestamp() * 1000))
    print("SENT", t0, t1, last, ok)
