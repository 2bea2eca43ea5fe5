"""Schedules, in an app of their own. A database made before it has them in scans_schedule: 0002 moves them."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("hosts", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Schedule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("minute", models.CharField(default="0", max_length=64)),
                ("hour", models.CharField(default="2", max_length=64)),
                ("day_of_week", models.CharField(default="*", max_length=64)),
                ("day_of_month", models.CharField(default="*", max_length=64)),
                ("month_of_year", models.CharField(default="*", max_length=64)),
                ("enabled", models.BooleanField(default=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "host",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="schedules",
                        to="hosts.host",
                    ),
                ),
                (
                    "periodic_task",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="django_celery_beat.periodictask",
                    ),
                ),
                (
                    "tag",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="schedules",
                        to="hosts.tag",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("host__isnull", False), ("tag__isnull", True)),
                            models.Q(("host__isnull", True), ("tag__isnull", False)),
                            _connector="OR",
                        ),
                        name="schedule_targets_a_host_or_a_tag",
                    )
                ],
            },
        ),
    ]
