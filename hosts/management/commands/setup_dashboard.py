"""First run of the dashboard, safe to repeat: migrate, create the admin user once, register the local engine."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.services import register_local_engine


class Command(BaseCommand):
    help = (
        "Migrate the database, create the admin user if there is none (password from DOCKERBENCH_ADMIN_PASSWORD, "
        "else a random one printed once), and register this machine's Docker engine as a host if it answers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("DOCKERBENCH_ADMIN_USER", "admin"))
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database: migrated.")
        self._ensure_admin(username, email)
        self._register_local_engine()

    def _ensure_admin(self, username: str, email: str) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin: a superuser exists already (forgot the password? manage.py changepassword).")
            return
        password = os.environ.get("DOCKERBENCH_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(16)
        else:
            # The same rules as every other password (AUTH_PASSWORD_VALIDATORS): this account can do anything.
            try:
                validate_password(password, users(username=username, email=email))
            except ValidationError as exc:
                raise CommandError(
                    "DOCKERBENCH_ADMIN_PASSWORD is not accepted: " + " ".join(exc.messages) + " Choose another, or "
                    "leave it unset for a random one."
                ) from None
        # Only the hash is stored; a generated password is shown this once and written nowhere.
        users.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            self.stdout.write(self.style.WARNING(f"Admin: created user {username!r} with password {password}"))
            self.stdout.write("       It is shown only this once: note it now, or change it with")
            self.stdout.write(f"       .venv/bin/python manage.py changepassword {username}")
        else:
            self.stdout.write(f"Admin: created user {username!r} with the password in DOCKERBENCH_ADMIN_PASSWORD.")

    def _register_local_engine(self) -> None:
        host = register_local_engine()
        if host is None:
            self.stdout.write("Local engine: nothing answers on /var/run/docker.sock; add hosts in the dashboard.")
        else:
            self.stdout.write(f"Local engine: registered as host {host.name!r} ({host.url}), scanned nightly.")
