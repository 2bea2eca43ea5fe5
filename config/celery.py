"""The Celery app, configured from Django settings (namespace ``CELERY``).

Broker: REDIS_URL when set. Otherwise kombu's ``filesystem://`` transport under
var/celery/: it needs no server and no extra package, every process on this
machine that shares the folder (web, worker, beat) sees the same queues, and it
supports fanout, so ``celery inspect`` works too. It suits one machine only; a
fleet of workers uses Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dockerbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Housekeeping, run by beat next to the schedules kept in the database (django-celery-beat reads these too).
# The reaper runs often: a scan whose worker died is noticed within a minute (scans.services).
app.conf.beat_schedule = {
    "reap-stale-scans": {"task": "scans.tasks.reap_stale_scans", "schedule": 30.0},
    "prune-snapshots": {"task": "scans.tasks.prune_snapshots", "schedule": crontab(hour="3", minute="30")},
    "hosts-housekeeping": {"task": "hosts.tasks.housekeeping", "schedule": 300.0},
    # Waivers expire at the start of their day (UTC): checked every quarter of an hour.
    "apply-waivers": {"task": "scans.tasks.apply_waivers", "schedule": 900.0},
    # The fleet's daily totals (FleetDay) for the trend charts: today and yesterday, every 10 minutes.
    "rollup-fleet-days": {"task": "scans.tasks.rollup_fleet_days", "schedule": 600.0},
    # Idempotent (a delivery per channel and stale stretch, or waiver): a missed or doubled run is harmless.
    "notify-stale-hosts": {"task": "notifications.tasks.notify_stale_hosts", "schedule": 900.0},
    "notify-expiring-waivers": {
        "task": "notifications.tasks.notify_expiring_waivers",
        "schedule": crontab(hour="7", minute="0"),
    },
    # A delivery whose task message was lost (broker down at commit) is sent again.
    "resend-lost-deliveries": {"task": "notifications.tasks.resend_lost_deliveries", "schedule": 300.0},
    # Reports past DOCKERBENCH_REPORT_RETENTION_DAYS go, with their files; a report whose worker died is failed.
    "prune-reports": {"task": "reports.tasks.prune_reports", "schedule": crontab(hour="3", minute="45")},
    # Scans past DOCKERBENCH_SCAN_RETENTION_DAYS and audit entries past DOCKERBENCH_AUDIT_RETENTION_DAYS, in
    # short batches (core.retention); idempotent, so a missed night is caught up by the next.
    "prune-scans": {"task": "scans.tasks.prune_scans", "schedule": crontab(hour="4", minute="0")},
    "prune-audit-entries": {"task": "core.tasks.prune_audit_entries", "schedule": crontab(hour="4", minute="15")},
    "reap-reports": {"task": "reports.tasks.reap_reports", "schedule": 300.0},
}


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport expects its folders to exist.
    if sender.conf.broker_url == "filesystem://":
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if key in options:
                Path(options[key]).mkdir(parents=True, exist_ok=True)
