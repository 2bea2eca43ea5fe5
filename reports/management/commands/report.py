"""manage.py report: write a fleet or host PDF report from the shell, as the Reports page makes them.

    manage.py report fleet --pdf FILE [--tag T] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--sections 1,5,S]
    manage.py report host NAME --pdf FILE [--since ...] [--until ...] [--sections ...]

It renders in this process (no worker, no stored Report) with reports.documents.render_report, and prints what it
wrote: the path, the pages, the size. Bad input and a report over the limits are a CommandError (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.models import Host
from reports.documents import ReportRequest, ReportTooLarge, render_report


def _printable(text: object) -> str:
    # Host names come from whoever registered the host: no escape sequence of theirs reaches the terminal.
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


class Command(BaseCommand):
    help = "Write a PDF report of the fleet (or the hosts with a tag) or of one host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["fleet", "host"], help="the whole fleet (or a tag), or one host")
        parser.add_argument("name", nargs="?", default="", help="the host's name (host reports)")
        parser.add_argument("--pdf", required=True, metavar="FILE", help="where to write the PDF")
        parser.add_argument("--tag", default="", help="fleet: only the hosts with this tag")
        parser.add_argument(
            "--since", default="", metavar="YYYY-MM-DD", help="first day (default: 30 days before --until)"
        )
        parser.add_argument(
            "--until", default="", metavar="YYYY-MM-DD", help="last day, included (default: today, UTC)"
        )
        parser.add_argument("--sections", default="", metavar="1,5,S", help="only these sections (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        kind, name = options["kind"], options["name"].strip()
        host_id = None
        if kind == "host":
            if not name:
                raise CommandError("a host report needs the host's name: manage.py report host NAME --pdf FILE")
            if options["tag"]:
                raise CommandError("--tag is for fleet reports; a host report is about one host")
            host_id = Host.objects.filter(name=name).values_list("pk", flat=True).first()
            if host_id is None:
                raise CommandError(f"no host is named {_printable(name)!r}")
        elif name:
            raise CommandError(f"a fleet report takes no host name ({_printable(name)!r}); use --tag to narrow it")
        sections = tuple(s.strip().upper() for s in options["sections"].split(",") if s.strip())
        try:
            request = ReportRequest.from_params(
                {
                    "kind": kind,
                    "host_id": host_id,
                    "tag": options["tag"],
                    "since": options["since"] or None,
                    "until": options["until"] or None,
                    "sections": list(sections),
                }
            )
            request.period()  # a --since in the future without --until is caught here, before any query
            rendered = render_report(request, progress=self._progress if options["verbosity"] > 1 else None)
        except (ValueError, ReportTooLarge) as exc:
            raise CommandError(_printable(exc)) from None
        path = Path(options["pdf"])
        try:
            path.write_bytes(rendered.pdf)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
        pages, scans = rendered.pages, len(rendered.scan_ids)
        self.stdout.write(
            f"wrote {path}: {_printable(rendered.title)}, {pages} page{'s' if pages != 1 else ''}, "
            f"{_size(len(rendered.pdf))}, from {scans} scan{'s' if scans != 1 else ''}"
        )

    def _progress(self, phase: str, done: int, total: int) -> None:
        print(f"{phase}: {done}/{total}", file=sys.stderr, flush=True)
