"""beat_schedule, ported: schedules live in the server, created once through the API (run this again
after a change), not in the configuration of a beat process.

    RAMPART_URL=... RAMPART_TOKEN=rmp_... python -m rampart_app.schedules
"""

import rampart

# beat_schedule["nightly-eu-report"]: crontab(minute=30, hour=2), kwargs {"region": "eu"}, timezone UTC.
SCHEDULES = [
    {"name": "nightly-eu-report", "task": "reports.generate", "args": {"region": "eu"},
     "cron": "30 2 * * *", "time_zone": "UTC"},
]


def ensure_schedules(client: rampart.Client) -> list[rampart.Schedule]:
    """Creates the schedules that do not exist yet (by name) and updates the others to match."""
    existing = {s.name: s for s in client.list_schedules()}
    saved = []
    for spec in SCHEDULES:
        fields = dict(spec)
        if spec["name"] in existing:
            saved.append(client.update_schedule(existing[spec["name"]].id, **fields))
        else:
            saved.append(client.create_schedule(fields.pop("name"), fields.pop("task"), fields.pop("args"),
                                                **fields))
    return saved


if __name__ == "__main__":
    for schedule in ensure_schedules(rampart.Client()):
        print(schedule.id, schedule.name, schedule.cron, "next:", schedule.next_fire_times[0])
