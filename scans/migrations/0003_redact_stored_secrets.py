"""Scrub the secrets that scans stored before the collector redacted them.

Snapshots saved by earlier versions hold each container's environment values (passwords included) and
secret-shaped words in image history and command lines; so can the evidence of the checks that quote
command lines (4.7 and 4.9: history lines, 5.7: processes). Each is passed through the engine's redaction
(dockerbench.redact, whose dict API is kept stable for this migration), with the key the dashboard uses for
new scans, so a value hashes the same before and after. Idempotent: a marker is never redacted again.

It reads every stored snapshot once (they are pruned after DOCKERBENCH_SNAPSHOT_RETENTION_DAYS, so there
are few) and the evidence rows of those three checks, rewriting only what changed.
"""

import json
import zlib

from django.conf import settings
from django.db import migrations
from django.utils.crypto import salted_hmac

from dockerbench.redact import redact_snapshot_dict, redact_text

BATCH = 500
TEXT_CHECKS = ("4.7", "4.9", "5.7")


def _key():
    # As hosts.services.redaction_key derives it (frozen here: a migration keeps the meaning it was written with).
    return salted_hmac("dockerbench.redaction", "values", secret=settings.SECRET_KEY, algorithm="sha256").digest()


def _redact_strings(value, key):
    if isinstance(value, str):
        return redact_text(value, key)
    if isinstance(value, list):
        return [_redact_strings(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _redact_strings(v, key) for k, v in value.items()}
    return value


def scrub(apps, schema_editor):
    key = _key()
    ScanSnapshot = apps.get_model("scans", "ScanSnapshot")
    CheckResult = apps.get_model("scans", "CheckResult")
    changed = []
    for pk, data in ScanSnapshot.objects.values_list("pk", "data").iterator(chunk_size=BATCH):
        text = zlib.decompress(bytes(data)).decode("utf-8", "surrogatepass")
        raw = json.loads(text)
        clean = redact_snapshot_dict(raw, key) if isinstance(raw, dict) else raw
        if clean != raw:
            out = json.dumps(clean, ensure_ascii=False).encode("utf-8", "surrogatepass")
            changed.append(ScanSnapshot(pk=pk, data=zlib.compress(out, 6), size=len(out)))
        if len(changed) >= BATCH:
            ScanSnapshot.objects.bulk_update(changed, ["data", "size"])
            changed = []
    if changed:
        ScanSnapshot.objects.bulk_update(changed, ["data", "size"])

    rows = CheckResult.objects.filter(check_id__in=TEXT_CHECKS).values_list("pk", "evidence", "message")
    seen: dict[str, tuple[object, str]] = {}  # the same history lines come back scan after scan
    updates = []
    for pk, evidence, message in rows.iterator(chunk_size=2000):
        marker = json.dumps([evidence, message], sort_keys=True)
        if marker not in seen:
            if len(seen) > 50_000:
                seen.clear()  # bounded memory, whatever the history
            seen[marker] = (_redact_strings(evidence, key), redact_text(message or "", key))
        new_evidence, new_message = seen[marker]
        if new_evidence != evidence or new_message != (message or ""):
            updates.append(CheckResult(pk=pk, evidence=new_evidence, message=new_message))
        if len(updates) >= BATCH:
            CheckResult.objects.bulk_update(updates, ["evidence", "message"])
            updates = []
    if updates:
        CheckResult.objects.bulk_update(updates, ["evidence", "message"])


class Migration(migrations.Migration):
    dependencies = [("scans", "0002_upgrade_legacy_database")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True)]
