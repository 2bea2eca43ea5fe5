from __future__ import annotations

from auditlog.registry import auditlog
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from hosts.models import Host, Tag

# A window longer than this would keep scans waiting past Redis' visibility timeout (an hour) many times over.
MAX_WINDOW_MINUTES = 180


class Schedule(models.Model):
    """When to scan: a crontab for one host or for every host with a tag.

    Each schedule owns one django-celery-beat PeriodicTask, kept in step by schedules.services.sync_schedule,
    so beat's database scheduler runs it; the task goes when the schedule does, however it goes.
    """

    name = models.CharField(max_length=100, unique=True)
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    minute = models.CharField(max_length=64, default="0")
    hour = models.CharField(max_length=64, default="2")
    day_of_week = models.CharField(max_length=64, default="*")
    day_of_month = models.CharField(max_length=64, default="*")
    month_of_year = models.CharField(max_length=64, default="*")
    # Its hosts' scans are spread evenly over this many minutes from when it fires (0: all at once).
    window_minutes = models.PositiveSmallIntegerField(
        "spread over (minutes)", default=0, validators=[MaxValueValidator(MAX_WINDOW_MINUTES)]
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(host__isnull=False) & Q(tag__isnull=True)) | (Q(host__isnull=True) & Q(tag__isnull=False)),
                name="schedule_targets_a_host_or_a_tag",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def crontab_text(self) -> str:
        return f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week}"

    def target_hosts(self) -> models.QuerySet[Host]:
        hosts = Host.objects.filter(enabled=True)
        if self.host_id is not None:
            return hosts.filter(pk=self.host_id)
        return hosts.filter(tags=self.tag_id)


auditlog.register(Schedule, exclude_fields=["periodic_task"])
