"""The worker the process tests run: ``python -m rampart worker worker_app:worker --queues Q``.

It handles built-in task names on queues that only external workers serve (test_worker.py runs a
declared task type, [tasks."report.monthly"] in conftest.py, with a Worker of its own)."""

import rampart

worker = rampart.Worker(rampart.Client(), queues=["ext"], concurrency=4, lease_seconds=5,
                        grace_period=2.0, poll_interval=0.1, max_poll_interval=0.5)


@worker.task("echo")
def echo(args, ctx):
    return {"echoed": args, "attempt": ctx.attempt}


@worker.task("sleep")
def sleep(args, ctx):
    ctx.progress(10, "sleeping")
    if ctx.sleep(float(args["seconds"])):
        raise rampart.Retry(f"stopped: {ctx.reason}")
    return {"slept": args["seconds"], "attempt": ctx.attempt}
