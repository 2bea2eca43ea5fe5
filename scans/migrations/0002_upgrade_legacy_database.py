"""Bring a database made before the apps were layered up to date; on a new database this does nothing.

Such a database ran the first migrations under the same names (hosts.0001_initial, scans.0001_initial), so
Django counts those as applied although the tables differ from what they make now. What differs, and what is
done about it, step by step, each step only when the database still needs it (so a half-done upgrade can be
run again):
- scans_scan lacks the claim, heartbeat, worker_pid, sent_at and sends columns: they are added;
- there is no scans_latestscan table: it is created, and filled from hosts_host.latest_scan_id;
- hosts_host still has latest_scan_id: the pointer now lives here, so the column goes (it was the scans
  app's data in the hosts app's table);
- hosts_connectiontest is made by hosts.0002, which such a database had not run;
- the schedules, still in scans_schedule, are moved by schedules.0002.
A database from before the warn_sections column (older than the previous release) is refused with a clear
message rather than upgraded half-way.
"""

from django.db import migrations, models

NEW_SCAN_FIELDS = ("claim", "heartbeat", "worker_pid", "sent_at", "sends")


def _columns(connection, table):
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def upgrade(apps, schema_editor):
    connection = schema_editor.connection
    Scan = apps.get_model("scans", "Scan")
    LatestScan = apps.get_model("scans", "LatestScan")
    Host = apps.get_model("hosts", "Host")
    scan_columns = _columns(connection, Scan._meta.db_table)
    if "warn_sections" not in scan_columns:
        raise RuntimeError(
            "this database predates dockerbench's previous release (scans_scan has no warn_sections column): "
            "migrate it with that release first"
        )
    quote = connection.ops.quote_name
    for name in NEW_SCAN_FIELDS:
        if name in scan_columns:
            continue
        field = Scan._meta.get_field(name)
        if connection.vendor == "sqlite":
            # SQLite's add_field rebuilds the table from the model, which has every new field already and would
            # copy the missing ones as their own names; a plain ADD COLUMN (with the default) is what is meant.
            definition, params = schema_editor.column_sql(Scan, field, include_default=True)
            schema_editor.execute(
                f"ALTER TABLE {quote(Scan._meta.db_table)} ADD COLUMN {quote(field.column)} {definition}", params
            )
        else:
            schema_editor.add_field(Scan, field)
    tables = connection.introspection.table_names()
    if LatestScan._meta.db_table not in tables:
        schema_editor.create_model(LatestScan)
    if "latest_scan_id" in _columns(connection, Host._meta.db_table):
        schema_editor.execute(  # our own table names only
            f"INSERT INTO {quote(LatestScan._meta.db_table)} (host_id, scan_id) "  # noqa: S608
            f"SELECT id, latest_scan_id FROM {quote(Host._meta.db_table)} WHERE latest_scan_id IS NOT NULL"
        )
        if connection.vendor == "sqlite":
            # SQLite cannot drop a foreign key column: rebuild the table from the Host model, which has none.
            schema_editor._remake_table(Host)
        else:
            # The historical Host has no such field any more: describe the column to drop as it was made.
            old: models.ForeignKey[object, object] = models.ForeignKey(
                "scans.Scan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
            )
            old.set_attributes_from_name("latest_scan")
            old.model = Host
            old.remote_field.model = Scan
            schema_editor.remove_field(Host, old)


class Migration(migrations.Migration):
    dependencies = [
        ("scans", "0001_initial"),
        ("hosts", "0001_initial"),
    ]

    operations = [migrations.RunPython(upgrade, migrations.RunPython.noop)]
