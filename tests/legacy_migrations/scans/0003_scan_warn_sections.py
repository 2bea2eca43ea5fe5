"""Scan.warn_sections, filled in for the scans already stored (from their summary, as Scan.save() does)."""

from collections import defaultdict

from django.db import migrations, models

# Frozen copies of dockerbench.catalog.SECTIONS' keys and scans.models.warn_sections_of at the time of this
# migration: a migration must not change meaning when the code it was written against does.
SECTION_KEYS = ("1", "2", "3", "4", "5", "6", "7")
BATCH = 2000


def warn_sections_of(summary):
    sections = summary.get("sections") if isinstance(summary, dict) else None
    if not isinstance(sections, dict):
        return ""
    keys = []
    for key in SECTION_KEYS:
        counts = sections.get(key)
        try:
            warn = int(counts.get("WARN") or 0) if isinstance(counts, dict) else 0
        except (TypeError, ValueError):
            warn = 0
        if warn > 0:
            keys.append(key)
    return f",{','.join(keys)}," if keys else ""


def fill_warn_sections(apps, schema_editor):
    Scan = apps.get_model("scans", "Scan")
    ids_by_value = defaultdict(list)
    # Few distinct values (subsets of 7 sections): one UPDATE per value and batch, not one per scan.
    for pk, summary in Scan.objects.exclude(summary={}).values_list("pk", "summary").iterator(chunk_size=BATCH):
        value = warn_sections_of(summary)
        if value:
            ids_by_value[value].append(pk)
    for value, ids in ids_by_value.items():
        for start in range(0, len(ids), BATCH):
            Scan.objects.filter(pk__in=ids[start : start + BATCH]).update(warn_sections=value)


class Migration(migrations.Migration):
    dependencies = [
        ("scans", "0002_diffsnapshot_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="scan",
            name="warn_sections",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
        migrations.RunPython(fill_warn_sections, migrations.RunPython.noop),
    ]
