from __future__ import annotations

from datetime import datetime
from typing import Any

from celery.schedules import crontab
from django import forms
from django.utils import timezone
from django_celery_beat import validators

from schedules.models import MAX_WINDOW_MINUTES, Schedule

CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_VALIDATORS = {
    "minute": validators.minute_validator,
    "hour": validators.hour_validator,
    "day_of_month": validators.day_of_month_validator,
    "month_of_year": validators.month_of_year_validator,
    "day_of_week": validators.day_of_week_validator,
}


def schedule_crontab(schedule: Schedule) -> crontab:
    """The celery crontab beat will run for this schedule (raises ValueError when a field does not parse)."""
    return crontab(**{name: getattr(schedule, name) for name in CRONTAB_FIELDS})


def next_run(schedule: Schedule, now: datetime | None = None) -> datetime | None:
    """When beat will next run an enabled schedule, in the server's time zone."""
    if not schedule.enabled:
        return None
    now = timezone.localtime(now)
    try:
        cron = schedule_crontab(schedule)
    except ValueError:
        return None
    # remaining_estimate counts from its own idea of now; measure from ours so a page shows one consistent time.
    cron.nowfun = lambda: now
    return now + cron.remaining_estimate(now)


class ScheduleForm(forms.ModelForm):
    """A crontab for one host or for every host with a tag; the crontab must parse the way beat parses it."""

    # Left empty: all at once, as before windows existed.
    window_minutes = forms.IntegerField(
        label="Spread over (minutes)",
        required=False,
        min_value=0,
        max_value=MAX_WINDOW_MINUTES,
        help_text="Start the hosts' scans spread evenly over this many minutes instead of all at once: 60 from"
        f" 02:00 scans until 03:00. 0 or empty: all at once. At most {MAX_WINDOW_MINUTES}.",
    )

    class Meta:
        model = Schedule
        fields = ["name", "host", "tag", *CRONTAB_FIELDS, "window_minutes", "enabled"]
        help_texts = {
            "host": "Scan this host…",
            "tag": "…or every enabled host with this tag.",
            "minute": "0-59, e.g. 0 or */15",
            "hour": "0-23, e.g. 2",
            "day_of_month": "1-31 or *",
            "month_of_year": "1-12 or *",
            "day_of_week": "0-6 (Sunday is 0), mon-fri, or *",
        }

    def clean_window_minutes(self) -> int:
        return self.cleaned_data.get("window_minutes") or 0

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if bool(cleaned.get("host")) == bool(cleaned.get("tag")):
            # On the field, so the model's own target constraint is not reported a second time.
            self.add_error("host", forms.ValidationError("Choose one target: a host or a tag.", code="target"))
        for name in CRONTAB_FIELDS:
            value = (cleaned.get(name) or "").strip()
            if name not in self.errors:
                try:
                    _VALIDATORS[name](value)
                    crontab(**{name: value})
                except (forms.ValidationError, ValueError) as exc:
                    message = exc.messages[0] if isinstance(exc, forms.ValidationError) else str(exc)
                    self.add_error(name, f"Not a valid crontab value: {message}")
                else:
                    cleaned[name] = value
        if not any(name in self.errors for name in CRONTAB_FIELDS):
            self._check_it_can_fire(cleaned)
        return cleaned

    def _check_it_can_fire(self, cleaned: dict[str, Any]) -> None:
        # Fields that parse one by one can still never meet (30 February): ask beat's own parser, and have it
        # find the next run, as beat will.
        try:
            cron = crontab(**{name: cleaned[name] for name in CRONTAB_FIELDS})
            cron.remaining_estimate(timezone.localtime())
        except (ValueError, RuntimeError) as exc:
            self.add_error("day_of_month", f"This schedule would never run: {exc}")
