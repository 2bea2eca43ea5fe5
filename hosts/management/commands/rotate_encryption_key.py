"""Re-encrypt every stored host credential with the newest key of DOCKERBENCH_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hosts.crypto import CredentialUnreadable
from hosts.services import rotate_credentials


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the newest key (the first of DOCKERBENCH_ENCRYPTION_KEY), in "
        "one transaction. Idempotent: credentials already under the newest key are left as they are. Put the "
        "new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--allow-unreadable",
            action="store_true",
            help="re-encrypt what can be read even if some credentials cannot (they are left as they are)",
        )

    def handle(self, *args: Any, allow_unreadable: bool, **options: Any) -> None:
        try:
            counts = rotate_credentials(allow_unreadable=allow_unreadable)
        except CredentialUnreadable as exc:
            raise CommandError(
                f"{exc}. Nothing was changed. Add the key they were saved with to DOCKERBENCH_ENCRYPTION_KEY, or "
                "run again with --allow-unreadable and enter those credentials again on their hosts' pages."
            ) from None
        self.stdout.write(
            f"Re-encrypted {counts['rotated']} credential(s) with the newest key; "
            f"{counts['current']} already used it; {counts['unreadable']} could not be read"
            + (f" (hosts: {', '.join(counts['unreadable_hosts'])})" if counts["unreadable_hosts"] else "")
            + f"; {counts['hosts']} host(s) looked at."
        )
