"""python -m dockerbench: audit one Docker host against the CIS Docker Benchmark v1.6.0.

Exit codes: 0 audit done; 1 a result matched --fail-on (waived results aside);
2 the host could not be audited (unreachable, TLS or SSH failure, bad arguments
or input, a waivers file with errors, --fixes DIR not writable). With --push: 3 the dashboard could not be
reached or could not take the snapshot now (try again later), 4 the dashboard
refused it (token, URL, TLS or snapshot: trying again will not help); either wins
over 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from dockerbench import __version__, push
from dockerbench.collect import FACT_METHODS, CollectError, CollectOptions, collect_snapshot
from dockerbench.collect.docker_api import SSHOptions, Target, TLSOptions
from dockerbench.fixes import fixes_for
from dockerbench.fixes.bundle import write_dir
from dockerbench.formats import FORMATS, render
from dockerbench.redact import redact_snapshot
from dockerbench.results import Status
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import HostSnapshot, ImageVulnReport
from dockerbench.vulns import ReportError, read_report_file
from dockerbench.waivers import CveWaiver, Waiver, WaiverError, active, apply, load_all, waive_cves

EXIT_OK, EXIT_FAILED_CHECKS, EXIT_ERROR = 0, 1, 2
EXIT_PUSH_RETRY, EXIT_PUSH_REFUSED = 3, 4


def _csv(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _output(value: str) -> tuple[str, str]:
    """--output FORMAT=FILE, as (format, file)."""
    fmt, sep, path = value.partition("=")
    fmt = fmt.strip().lower()
    if not sep or not path:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not FORMAT=FILE (e.g. sarif=report.sarif, or junit=- for standard output)"
        )
    if fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt, path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dockerbench",
        description="Audit a Docker host against the CIS Docker Benchmark v1.6.0.",
    )
    p.add_argument("--version", action="version", version=f"dockerbench {__version__}")
    conn = p.add_argument_group("connection")
    conn.add_argument(
        "-H",
        "--host",
        default=os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock",
        help="engine URL: unix:///path, tcp://host:2376 or ssh://user@host (default: $DOCKER_HOST or the local socket)",
    )
    conn.add_argument("--tlscacert", help="CA that signed the daemon's certificate (enables TLS)")
    conn.add_argument("--tlscert", help="client certificate for mutual TLS")
    conn.add_argument("--tlskey", help="client key for mutual TLS")
    conn.add_argument(
        "--tlsverify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="verify the daemon's certificate (default: yes)",
    )
    conn.add_argument("--ssh-key", help="private key for ssh:// engines and --facts ssh")
    conn.add_argument("--ssh-known-hosts", help="known_hosts file (default: ~/.ssh/known_hosts)")
    conn.add_argument(
        "--ssh-accept-unknown-host",
        action="store_true",
        help="trust an SSH host key that is not in known_hosts (not recommended)",
    )
    conn.add_argument("--ssh-url", help="user@host[:port] to gather host facts over SSH for a tcp:// engine")
    conn.add_argument("--timeout", type=float, default=30.0, help="seconds for each API call (default 30)")
    facts = p.add_argument_group("host facts")
    facts.add_argument(
        "--facts",
        choices=FACT_METHODS,
        default="auto",
        help="how to read host files and processes: local (this machine), probe (a short-lived "
        "container through the API), ssh, none; auto picks local for a unix socket, ssh for "
        "ssh://, probe otherwise",
    )
    facts.add_argument(
        "--probe-image",
        default=os.environ.get("DOCKERBENCH_PROBE_IMAGE") or CollectOptions.probe_image,
        help="image for the probe container; it needs a POSIX sh (default: %(default)s)",
    )
    sel = p.add_argument_group("selection")
    sel.add_argument("-s", "--section", action="append", help="only these sections, e.g. -s 2,5")
    sel.add_argument("-c", "--include", action="append", help="only these checks or prefixes, e.g. -c 5.4,3")
    sel.add_argument("-e", "--exclude", action="append", help="leave out these checks or prefixes")
    out = p.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=FORMATS,
        help="the report on standard output: text (default), json, sarif (SARIF 2.1.0), junit (JUnit XML) or csv",
    )
    out.add_argument(
        "--output",
        action="append",
        type=_output,
        metavar="FORMAT=FILE",
        help="also write the report in FORMAT to FILE ('-' for standard output, instead of --format's); "
        "repeat for several, e.g. --output sarif=out.sarif --output junit=out.xml",
    )
    out.add_argument("--json", metavar="FILE", help="write the JSON report to FILE ('-' for standard output)")
    out.add_argument("--save-snapshot", metavar="FILE", help="write the collected snapshot as JSON to FILE")
    out.add_argument("--snapshot", metavar="FILE", help="evaluate a saved snapshot instead of collecting")
    out.add_argument(
        "--fixes",
        metavar="DIR",
        help="write the host's fixes to DIR (made if need be): a README of every change, daemon.json, audit "
        "rules, a permissions script and each container's run line and compose file, hardened; nothing is "
        "applied, these are files to review (docs/fixes.md)",
    )
    out.add_argument(
        "--redact-key-file",
        metavar="FILE",
        help="key for the hashes in redaction markers: environment values and secrets found in commands are "
        "replaced by <redacted:len=N,hmac=H>, and with the same key a changed value shows as a changed hash "
        "between runs (default: $DOCKERBENCH_REDACT_KEY, else a random key for this run, so hashes then "
        "compare only within one run)",
    )
    out.add_argument("-v", "--verbose", action="store_true", help="also print passing objects and evidence")
    out.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print no report on standard output but those --output or --json sends there",
    )
    out.add_argument(
        "--color",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="colour the text report (default: when standard output is a terminal)",
    )
    out.add_argument(
        "--fail-on",
        action="append",
        metavar="STATUS",
        help="exit 1 when any result has one of these statuses, e.g. --fail-on WARN,ERROR",
    )
    acc = p.add_argument_group("waivers")
    acc.add_argument(
        "--waivers",
        metavar="FILE",
        help="accepted risks, YAML or JSON (docs/waivers.md): a WARN they cover is shown as WAIVED, left out "
        "of score_with_waivers and of --fail-on; a cve: entry waives a vulnerability of the --image-report "
        "reports, which 4.4 then leaves out; expired ones are noted on standard error",
    )
    acc.add_argument(
        "--host-name",
        metavar="NAME",
        help="the name waivers' host: is matched against (default: the engine's name, as in docker info)",
    )
    vul = p.add_argument_group("image vulnerabilities")
    vul.add_argument(
        "--image-report",
        action="append",
        metavar="FILE",
        help="a vulnerability report of an image (trivy image -f json, grype -o json, a Clair v4 report), "
        "matched to the host's images by digest: 4.4 then warns for images with fixable criticals; repeatable",
    )
    dash = p.add_argument_group("reporting to the dashboard (docs/push.md)")
    dash.add_argument(
        "--push",
        metavar="URL",
        help="send the snapshot to the dashboard's push URL (https://HOST/api/v1/push/), where it is judged and "
        "recorded as a scan of the host the token belongs to; the report is still printed unless --quiet",
    )
    dash.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"the host's push token (default: ${push.TOKEN_ENV}, which keeps it out of the process list)",
    )
    dash.add_argument(
        "--push-ca", metavar="FILE", help="CA certificate(s) the dashboard's TLS is verified against (default: system)"
    )
    return p


def _today() -> date:
    """The day waivers' expiry is judged on, in UTC as the dashboard judges it."""
    return datetime.now(UTC).date()


def _scope(w: Waiver | CveWaiver) -> str:
    parts = [f"check {w.check}" if isinstance(w, Waiver) else f"cve {w.cve}"]
    if w.host is not None:
        parts.append(f"host {w.host}")
    if isinstance(w, Waiver) and w.object is not None:
        parts.append(f"object {w.object}")
    if isinstance(w, CveWaiver) and w.image is not None:
        parts.append(f"image {w.image}")
    return ", ".join(parts)


def _target(args: argparse.Namespace) -> Target:
    url = args.host
    tls = None
    cert_path = os.environ.get("DOCKER_CERT_PATH")
    if args.tlscacert or args.tlscert or args.tlskey:
        tls = TLSOptions(args.tlscacert, args.tlscert, args.tlskey, verify=args.tlsverify)
    elif cert_path and url.startswith("tcp://"):
        base = Path(cert_path)
        tls = TLSOptions(str(base / "ca.pem"), str(base / "cert.pem"), str(base / "key.pem"), verify=args.tlsverify)
    ssh = SSHOptions(
        key_file=args.ssh_key, known_hosts=args.ssh_known_hosts, accept_unknown_host=args.ssh_accept_unknown_host
    )
    return Target(url=url, tls=tls, ssh=ssh, timeout=args.timeout)


def _redact_key(path: str | None) -> bytes:
    """The key from --redact-key-file (surrounding whitespace left out), else $DOCKERBENCH_REDACT_KEY, else random."""
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise OSError(f"cannot read the redaction key file {path}: {exc.strerror or exc}") from exc
        if not key:
            raise ValueError(f"the redaction key file {path} is empty")
        return key
    return os.environ.get("DOCKERBENCH_REDACT_KEY", "").encode() or os.urandom(32)


def _outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, str]]:
    """Every (format, file) to write, "-" for standard output: --json, each --output, then --format's report.

    Checked before collecting, so a typo costs no audit: at most one report on standard output, no file named
    twice, and every file's directory exists.
    """
    outputs: list[tuple[str, str]] = [("json", args.json)] if args.json else []
    outputs += args.output or []
    to_stdout = [fmt for fmt, path in outputs if path == "-"]
    if len(to_stdout) > 1:
        parser.error(f"only one report can go to standard output, not {' and '.join(to_stdout)}")
    if to_stdout and args.format is not None:
        parser.error(f"--format {args.format} and {to_stdout[0]}=- would both write to standard output")
    if not to_stdout and not args.quiet:
        outputs.append((args.format or "text", "-"))
    files = [path for _fmt, path in outputs if path != "-"]
    for path in files:
        if files.count(path) > 1:
            parser.error(f"{path} is named for more than one report")
        parent = Path(path).parent
        if not parent.is_dir():
            parser.error(f"cannot write {path}: the directory {parent} does not exist")
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    outputs = _outputs(parser, args)
    try:
        fail_on = {Status(s.upper()) for s in _csv(args.fail_on)}
    except ValueError:
        parser.error("--fail-on takes statuses among " + ", ".join(s.value for s in Status))
    check_ids = select(_csv(args.section), _csv(args.include), _csv(args.exclude))
    if not check_ids:
        parser.error("the selection leaves no check to run")
    if args.fixes and Path(args.fixes).exists() and not Path(args.fixes).is_dir():
        parser.error(f"--fixes: {args.fixes} is not a directory")
    push_token = _push_token(parser, args)
    try:
        redact_key = _redact_key(args.redact_key_file)
    except (OSError, ValueError) as exc:
        print(f"dockerbench: {exc}", file=sys.stderr)
        return EXIT_ERROR
    # Read before collecting: a bad file must not cost a whole audit.
    waivers: list[Waiver | CveWaiver] = []
    if args.waivers:
        try:
            waivers = load_all(args.waivers)
        except WaiverError as exc:
            print(f"dockerbench: {exc}", file=sys.stderr)
            return EXIT_ERROR
    image_reports: list[ImageVulnReport] = []
    for path in args.image_report or ():
        try:
            image_reports.append(read_report_file(path))
        except ReportError as exc:
            print(f"dockerbench: --image-report {exc}", file=sys.stderr)
            return EXIT_ERROR

    if args.snapshot:
        try:
            snapshot = HostSnapshot.from_json(Path(args.snapshot).read_bytes())
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            print(f"dockerbench: cannot read snapshot {args.snapshot}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        # One saved by an older version may hold values; a redacted one stays as it is.
        snapshot = redact_snapshot(snapshot, redact_key)
    else:
        target = _target(args)
        options = CollectOptions(
            facts=args.facts,
            probe_image=args.probe_image,
            ssh_url=args.ssh_url,
            ssh=target.ssh or SSHOptions(),
            redact_key=redact_key,
        )
        try:
            snapshot = collect_snapshot(target, options)
        except CollectError as exc:
            print(f"dockerbench: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if args.save_snapshot:
            Path(args.save_snapshot).write_text(snapshot.to_json(indent=1))

    if image_reports:
        snapshot = dataclasses.replace(snapshot, image_reports=(*(snapshot.image_reports or ()), *image_reports))
    in_force, expired = active(waivers, _today())
    expired_ids = {id(w) for w in expired}
    for i, w in enumerate(waivers):  # in the file's order: i is the entry's index there
        if id(w) in expired_ids:
            print(
                f"dockerbench: note: {args.waivers}: waivers[{i}] ({_scope(w)}) expired on "
                f"{w.expires.isoformat()} and no longer applies",
                file=sys.stderr,
            )
    host_name = args.host_name if args.host_name is not None else str((snapshot.info or {}).get("Name", ""))
    # CVE waivers mark the reports' vulnerabilities before 4.4 judges them; --push sends the snapshot
    # without them (the dashboard applies its own CVE waivers).
    judged = waive_cves(snapshot, [w for w in in_force if isinstance(w, CveWaiver)], host_name)
    results = evaluate(judged, check_ids)
    waived = apply(results, [w for w in in_force if isinstance(w, Waiver)], host_name)
    for fmt, path in outputs:
        if path == "-":
            color = sys.stdout.isatty() if args.color is None else args.color
            sys.stdout.write(render(fmt, judged, results, waived, color=color, verbose=args.verbose))
        else:
            # newline="": the CSV's RFC 4180 line ends stay \r\n, and no other report has any but \n.
            with open(path, "w", encoding="utf-8", newline="") as out:
                out.write(render(fmt, judged, results, waived, verbose=args.verbose))
    if args.fixes:
        try:
            written = write_dir(fixes_for(judged, results), args.fixes)
        except (OSError, ValueError) as exc:
            print(f"dockerbench: cannot write the fixes to {args.fixes}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(
            f"dockerbench: fixes written to {Path(args.fixes) / 'README.md'} and {len(written) - 1} more file(s); "
            "nothing has been applied: review them first",
            file=sys.stderr,
        )
    if args.push:
        pushed = _push(args, push_token, snapshot)
        if pushed != EXIT_OK:
            return pushed
    if fail_on and any(r.status in fail_on and w is None for r, w in zip(results, waived, strict=True)):
        return EXIT_FAILED_CHECKS
    return EXIT_OK


def _push_token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The push token for --push (--token, else the environment), checked before any audit; "" without --push."""
    if not args.push:
        if args.token or args.push_ca:
            parser.error("--token and --push-ca go with --push URL")
        return ""
    try:
        push.check_url(args.push)
    except ValueError as exc:
        parser.error(f"--push: {exc}")
    token = (args.token or os.environ.get(push.TOKEN_ENV, "")).strip()
    if not token:
        parser.error(f"--push needs the host's push token: ${push.TOKEN_ENV} (or --token)")
    if args.push_ca and not Path(args.push_ca).is_file():
        parser.error(f"--push-ca: {args.push_ca} is not a file")
    return token


def _push(args: argparse.Namespace, token: str, snapshot: HostSnapshot) -> int:
    try:
        result = push.push_snapshot(args.push, token, snapshot.to_json(), ca_file=args.push_ca)
    except push.PushError as exc:
        print(f"dockerbench: push failed: {exc}", file=sys.stderr)
        return EXIT_PUSH_RETRY if exc.temporary else EXIT_PUSH_REFUSED
    what = "recorded as" if result.created else "already recorded, as"
    print(
        f"dockerbench: pushed: {what} scan #{result.scan} of {result.host or 'the host'}: {result.url}", file=sys.stderr
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
