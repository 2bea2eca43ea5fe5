import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("hosts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Scan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("partial", "Partial"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=16,
                    ),
                ),
                (
                    "trigger",
                    models.CharField(
                        choices=[("schedule", "Schedule"), ("user", "User"), ("api", "API")],
                        default="user",
                        max_length=16,
                    ),
                ),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("started", models.DateTimeField(blank=True, null=True)),
                ("finished", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("worker", models.CharField(blank=True, max_length=200)),
                ("worker_pid", models.PositiveIntegerField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("claim", models.CharField(blank=True, default="", max_length=64)),
                ("heartbeat", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("sends", models.PositiveSmallIntegerField(default=0)),
                ("progress", models.JSONField(blank=True, default=dict)),
                ("summary", models.JSONField(blank=True, default=dict)),
                ("score", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("warn_count", models.PositiveIntegerField(default=0)),
                ("warn_sections", models.CharField(blank=True, default="", editable=False, max_length=32)),
                ("engine_version", models.CharField(blank=True, max_length=32)),
                (
                    "host",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="scans", to="hosts.host"
                    ),
                ),
                (
                    "triggered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created", "-id"],
                "permissions": [
                    ("run_scan", "Can start a scan"),
                    ("cancel_scan", "Can cancel a queued or running scan"),
                    ("view_findings", "Can see findings, their evidence and container drift"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ScanSnapshot",
            fields=[
                (
                    "scan",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="raw",
                        serialize=False,
                        to="scans.scan",
                    ),
                ),
                ("data", models.BinaryField()),
                ("size", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="LatestScan",
            fields=[
                (
                    "host",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="latest",
                        serialize=False,
                        to="hosts.host",
                    ),
                ),
                (
                    "scan",
                    models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="scans.scan"),
                ),
            ],
        ),
        migrations.CreateModel(
            name="DiffSnapshot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("container_id", models.CharField(max_length=64)),
                ("container_name", models.CharField(max_length=256)),
                ("image", models.CharField(blank=True, max_length=512)),
                ("running", models.BooleanField(default=True)),
                ("read_only", models.BooleanField(default=False)),
                ("started_at", models.CharField(blank=True, max_length=40)),
                ("labels", models.JSONField(blank=True, default=dict)),
                ("changes", models.JSONField(blank=True, default=list)),
                ("new_since_previous", models.JSONField(blank=True, default=list)),
                ("suspicious", models.JSONField(blank=True, default=list)),
                ("error", models.TextField(blank=True)),
                (
                    "scan",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="diffs", to="scans.scan"
                    ),
                ),
            ],
            options={
                "ordering": ["container_name"],
            },
        ),
        migrations.CreateModel(
            name="CheckResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.PositiveIntegerField()),
                ("check_id", models.CharField(max_length=16)),
                ("section", models.CharField(max_length=2)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("PASS", "Pass"),
                            ("WARN", "Warn"),
                            ("INFO", "Info"),
                            ("NOTE", "Note"),
                            ("SKIP", "Skip"),
                            ("ERROR", "Error"),
                        ],
                        max_length=8,
                    ),
                ),
                ("object_kind", models.CharField(blank=True, max_length=32)),
                ("object_id", models.CharField(blank=True, max_length=512)),
                ("object_name", models.CharField(blank=True, max_length=512)),
                ("message", models.TextField(blank=True)),
                ("evidence", models.JSONField(blank=True, default=dict)),
                (
                    "scan",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="results", to="scans.scan"
                    ),
                ),
            ],
            options={
                "ordering": ["scan", "seq"],
            },
        ),
        migrations.AddIndex(
            model_name="scan",
            index=models.Index(fields=["host", "-created"], name="scan_host_created"),
        ),
        migrations.AddConstraint(
            model_name="scan",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["queued", "running"])),
                fields=("host",),
                name="scan_one_active_per_host",
            ),
        ),
        migrations.AddIndex(
            model_name="diffsnapshot",
            index=models.Index(fields=["container_id", "scan"], name="diffsnapshot_container_scan"),
        ),
        migrations.AddConstraint(
            model_name="diffsnapshot",
            constraint=models.UniqueConstraint(fields=("scan", "container_id"), name="diffsnapshot_scan_container"),
        ),
        migrations.AddIndex(
            model_name="checkresult",
            index=models.Index(fields=["scan", "check_id"], name="checkresult_scan_check"),
        ),
        migrations.AddIndex(
            model_name="checkresult",
            index=models.Index(fields=["check_id", "status"], name="checkresult_check_status"),
        ),
        migrations.AddConstraint(
            model_name="checkresult",
            constraint=models.UniqueConstraint(fields=("scan", "seq"), name="checkresult_scan_seq"),
        ),
    ]
