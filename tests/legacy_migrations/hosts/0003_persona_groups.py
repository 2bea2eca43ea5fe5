"""The two persona groups, so a fresh install has them: Operators run the fleet, Viewers only look."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    ("hosts", "view_host"),
    ("hosts", "view_tag"),
    ("scans", "view_scan"),
    ("scans", "view_checkresult"),
    ("scans", "view_diffsnapshot"),
    ("scans", "view_schedule"),
]
GROUPS = {
    "Viewers": VIEW,
    "Operators": [
        *VIEW,
        ("hosts", "add_host"),
        ("hosts", "change_host"),
        ("hosts", "delete_host"),
        ("hosts", "add_tag"),
        ("scans", "add_scan"),
        ("scans", "add_schedule"),
        ("scans", "change_schedule"),
    ],
}


def ensure_persona_groups(apps, using="default"):
    """Create (or complete) the two groups; also used by the tests after a transactional test flushed them."""
    # Permissions are normally created after all migrations (post_migrate); create them now so the groups can hold them.
    for app_label in ("hosts", "scans"):
        app_config = apps.get_app_config(app_label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.using(using).get(content_type__app_label=app_label, codename=codename)
            )


def create_groups(apps, schema_editor):
    ensure_persona_groups(apps, schema_editor.connection.alias)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0002_initial"),
        ("scans", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
