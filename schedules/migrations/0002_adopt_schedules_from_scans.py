"""A database made before the schedules app has its schedules in scans_schedule: copy them here, ids and beat
tasks included, point their beat tasks at this app's task, and drop the old table. On a new database there is
no such table and this does nothing.
"""

from django.core.management.color import no_style
from django.db import migrations

OLD_TABLE = "scans_schedule"
COLUMNS = (
    "id",
    "name",
    "host_id",
    "tag_id",
    "minute",
    "hour",
    "day_of_week",
    "day_of_month",
    "month_of_year",
    "enabled",
    "periodic_task_id",
    "created",
)
OLD_TASK = "scans.tasks.run_schedule"
NEW_TASK = "schedules.tasks.run_schedule"


def adopt(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    Schedule = apps.get_model("schedules", "Schedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in COLUMNS)
    schema_editor.execute(
        f"INSERT INTO {quote(Schedule._meta.db_table)} ({columns}) SELECT {columns} FROM {quote(OLD_TABLE)}"  # noqa: S608 - our own table and column names
    )
    # The ids were copied: move the new table's sequence past them (PostgreSQL; SQLite needs nothing).
    for sql in connection.ops.sequence_reset_sql(no_style(), [Schedule]):
        schema_editor.execute(sql)
    PeriodicTask.objects.using(connection.alias).filter(task=OLD_TASK).update(task=NEW_TASK)
    schema_editor.execute(f"DROP TABLE {quote(OLD_TABLE)}")


def give_back(apps, schema_editor):
    # The old table is not made again: going back this far is going back to a release that made it itself.
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.using(schema_editor.connection.alias).filter(task=NEW_TASK).update(task=OLD_TASK)


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        # After the scans app has brought an old database up to date.
        ("scans", "0002_upgrade_legacy_database"),
    ]

    operations = [migrations.RunPython(adopt, give_back)]
