"""A host's fixes as files: the bundle the CLI writes (``--fixes DIR``), the dashboard and the API serve.

``layout(fixes)`` is the bundle as {relative path: text}; ``write_dir`` writes it under a directory and
``tar_gz`` packs it as one archive. Nothing here runs or applies anything: every file is for a person to
review, and the README says so first.

    README.md                        what each file is, and every change: check id, change, why, may break, review
    daemon.json                      the daemon configuration with the fixes merged in (its FileFix's name)
    audit.rules                      auditd rules for the paths the host has
    permissions.sh                   chown/chmod of the files found with the wrong owner or mode
    containers/<name>/run.sh         today's ``docker run`` line (commented) and the hardened one
    containers/<name>/compose.yml    the hardened compose service
    containers/<name>/compose.current.yml   the service as it runs today: ``diff`` the two to review

Container names and everything from a snapshot are hostile input: a directory name is folded to ASCII letters,
digits, ``.``, ``_`` and ``-`` and made unique; text that goes into a comment cannot end the comment; the
hardened run line is re-quoted token by token, so nothing in it is expanded by the shell.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shlex
import tarfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from dockerbench import __version__
from dockerbench.fixes.model import Change, ContainerFix, FileFix, HostFixes

README = "README.md"
RUN = "run.sh"
COMPOSE = "compose.yml"
COMPOSE_CURRENT = "compose.current.yml"
# The host files: (attribute of HostFixes, its default name in the bundle, what it is).
HOST_FILES: tuple[tuple[str, str, str], ...] = (
    ("daemon_json", "daemon.json", "the daemon configuration (/etc/docker/daemon.json) with the fixes merged in"),
    ("audit_rules", "audit.rules", "auditd rules for Docker's files and directories (/etc/audit/rules.d/)"),
    ("permissions", "permissions.sh", "chown and chmod of Docker's files found with the wrong owner or mode"),
)
# Every file of the bundle has this time: the same fixes give the same archive, byte for byte.
MTIME = 946684800  # 2000-01-01T00:00:00Z
FILE_MODE, SCRIPT_MODE, DIR_MODE = 0o644, 0o755, 0o755

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"[-.]{2,}")  # "-..-" and the like: no dot-dot, no runs of separators
_NAME_LENGTH = 60
_PLAIN = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")
_CONTINUATION = re.compile(r"(?<!\\)\\\r?\n")
# Characters that must not reach a comment or a table cell as they are: controls, and the Unicode line and
# paragraph separators (str.splitlines breaks on them, an editor may too).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def safe_name(name: str, fallback: str = "container") -> str:
    """``name`` as one directory name: ASCII letters, digits, ``.``, ``_`` and ``-``, no leading dot or dash,
    no dot-dot, at most 60 characters; ``fallback`` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = _RUNS.sub("-", _UNSAFE.sub("-", ascii_name)).strip("-._")[:_NAME_LENGTH].strip("-._")
    return safe or fallback


def container_dirs(containers: Iterable[ContainerFix]) -> dict[str, str]:
    """Each container's directory name under containers/, by container id: its name made safe, and unique
    (ignoring case, for case-insensitive file systems) with its short id, then a counter."""
    taken: set[str] = set()
    dirs: dict[str, str] = {}
    for c in containers:
        base = safe_name(c.name.lstrip("/"))
        candidates = [base, f"{base}-{safe_name(c.container_id[:12], 'id')}"]
        name = next((n for n in candidates if n.lower() not in taken), "")
        counter = 2
        while not name:
            if f"{base}-{counter}".lower() not in taken:
                name = f"{base}-{counter}"
            counter += 1
        taken.add(name.lower())
        dirs[c.container_id] = name
    return dirs


def bundle_name(fixes: HostFixes) -> str:
    """The archive's top directory, and its file name without ``.tar.gz``."""
    return f"dockerbench-fixes-{safe_name(fixes.host, 'host')}"


def host_files(fixes: HostFixes) -> list[tuple[str, str, FileFix]]:
    """(name in the bundle, what it is, the file) of each host file there is."""
    files = []
    for attr, default, what in HOST_FILES:
        f: FileFix | None = getattr(fixes, attr)
        if f is not None:
            name = Path(f.filename).name if f.filename else ""
            # The FileFix's own name when it is a plain file name; never a path, a dotfile or a bundle name.
            if not name or safe_name(name, "") != name or name in (README, "containers"):
                name = default
            files.append((name, what, f))
    return files


def layout(fixes: HostFixes) -> dict[str, str]:
    """The bundle as {path relative to its top: text}: README.md first, then the host files, then each
    container's run.sh, compose.current.yml and compose.yml under containers/<name>/."""
    files: dict[str, str] = {README: _readme(fixes)}
    for name, _what, f in host_files(fixes):
        files[name] = f.content if f.content.endswith("\n") or not f.content else f.content + "\n"
    dirs = container_dirs(fixes.containers)
    for c in fixes.containers:
        base = f"containers/{dirs[c.container_id]}"
        files[f"{base}/{RUN}"] = run_script(fixes.host, c)
        files[f"{base}/{COMPOSE_CURRENT}"] = _compose(c, current=True)
        files[f"{base}/{COMPOSE}"] = _compose(c, current=False)
    return files


def mode(path: str) -> int:
    return SCRIPT_MODE if path.endswith(".sh") else FILE_MODE


def write_dir(fixes: HostFixes, directory: str | os.PathLike[str]) -> list[Path]:
    """Write the bundle under ``directory`` (made if need be): the files it holds, in layout order.

    Files are 0644, scripts 0755, whatever the umask. A path that would land outside the directory, through a
    symbolic link already there, is refused with ValueError before anything is written, and no file is written
    through a link.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    top = root.resolve()
    files = layout(fixes)
    targets: list[tuple[Path, str]] = []
    for rel, text in files.items():
        target = root / rel
        parent = target.parent.resolve() if target.parent.exists() else _resolve_missing(target.parent)
        if parent != top and top not in parent.parents:
            raise ValueError(f"refusing to write {rel}: it would be outside {root}")
        if target.is_symlink():
            raise ValueError(f"refusing to write {rel}: {target} is a symbolic link")
        targets.append((target, text))
    written = []
    for target, text in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(DIR_MODE)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, mode(target.name))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(target, mode(target.name))
        written.append(target)
    return written


def _resolve_missing(path: Path) -> Path:
    """Where ``path`` would be: its nearest existing ancestor resolved, plus the rest."""
    missing: list[str] = []
    while not path.exists():
        missing.append(path.name)
        path = path.parent
    return path.resolve().joinpath(*reversed(missing))


def tar_gz(fixes: HostFixes) -> bytes:
    """The bundle as one .tar.gz under a top directory (bundle_name): sorted, fixed times and owners, no
    absolute path, so the same fixes give the same bytes."""
    top = bundle_name(fixes)
    files = layout(fixes)
    dirs = {top} | {f"{top}/{'/'.join(rel.split('/')[:i])}" for rel in files for i in range(1, rel.count("/") + 1)}
    entries = sorted([(d, None) for d in dirs] + [(f"{top}/{rel}", text) for rel, text in files.items()])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if text is None:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                tar.addfile(info)
            else:
                data = text.encode("utf-8", "backslashreplace")
                info.size = len(data)
                info.mode = mode(name)
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=MTIME) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


# --- the files' text ---------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` on one line, without control characters: safe in a comment or a table cell."""
    return _CONTROL.sub(_escape, " ".join(text.split("\n"))).strip()


def _escape(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"


def _comment(text: str, prefix: str = "# ") -> list[str]:
    """``text`` as comment lines: each of its lines behind ``prefix``; no line of it can end the comment."""
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return [f"{prefix}{_CONTROL.sub(_escape, line)}".rstrip() for line in lines]


def _change_comment(ch: Change) -> list[str]:
    lines = [f"#   {one_line(ch.check_id)}: {one_line(ch.what)}", f"#       why: {one_line(ch.why)}"]
    if ch.may_break:
        lines.append(f"#       may break: {one_line(ch.may_break)}")
    if ch.review:
        lines.append(f"#       REVIEW: {one_line(ch.review)}")
    return lines


def sh_quote(token: str) -> str:
    """``token`` as one literal sh word: as it is when plain, else in single quotes, else (a quote or a
    backslash in it) in double quotes with \\, ", $ and ` escaped, which shellcheck reads without a doubt."""
    if token and _PLAIN.fullmatch(token):
        return token
    if "'" not in token and "\\" not in token:
        return f"'{token}'"
    return '"' + re.sub(r'([\\"$`])', r"\\\1", token) + '"'


def shell_line(command: str) -> str:
    """``command`` re-quoted token by token (nothing in it is expanded by sh), one option per line.

    Raises ValueError when it is not a command line shlex can read (an open quote).
    """
    tokens = shlex.split(_CONTINUATION.sub(" ", command))
    if not tokens:
        raise ValueError("an empty command line")
    lines = [sh_quote(tokens[0])]
    for token in tokens[1:]:
        quoted = sh_quote(token)
        if token.startswith("-") or len(lines[-1]) + len(quoted) > 100:
            lines.append(quoted)
        else:
            lines[-1] += f" {quoted}"
    return " \\\n  ".join(lines)


def run_script(host: str, c: ContainerFix) -> str:
    """run.sh: a POSIX sh script that would run the hardened container; today's line is a comment."""
    lines = [
        "#!/bin/sh",
        f"# {one_line(c.name)} ({one_line(c.container_id[:12])}) on {one_line(host)}: written by dockerbench "
        f"{__version__}.",
        "# Nothing here has been run. Review every change below before you run this script; the container",
        "# of the same name must be stopped and removed first (docker stop NAME && docker rm NAME).",
        "set -eu",
        "",
    ]
    if c.changes:
        lines.append("# Changes:")
        for ch in c.changes:
            lines += _change_comment(ch)
        lines.append("")
    lines.append("# Today:")
    lines += _comment(c.current_run or "(not known)")
    lines += ["", "# Hardened:"]
    try:
        lines.append(shell_line(c.fixed_run))
    except ValueError as exc:
        lines.append(f"# The hardened line could not be written as a command ({one_line(str(exc))}); as given:")
        lines += _comment(c.fixed_run)
        lines.append("exit 1")
    return "\n".join(lines) + "\n"


def _compose(c: ContainerFix, *, current: bool) -> str:
    if current:
        head = [
            f"# {one_line(c.name)} ({one_line(c.container_id[:12])}) as it runs today, written by dockerbench.",
            f"# Compare it with the hardened service: diff {COMPOSE_CURRENT} {COMPOSE}",
        ]
        body = c.current_compose
    else:
        head = [
            f"# {one_line(c.name)} ({one_line(c.container_id[:12])}) hardened, written by dockerbench.",
            "# Nothing here has been applied: review each change before you use this file.",
        ]
        if c.changes:
            head.append("# Changes:")
            for ch in c.changes:
                head += _change_comment(ch)
        body = c.fixed_compose
    return "\n".join(head) + "\n" + body + ("" if body.endswith("\n") or not body else "\n")


def _cell(text: str) -> str:
    """``text`` in a Markdown table cell: one line; pipes, backticks and HTML are literal."""
    escaped = one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _changes_table(changes: Iterable[Change]) -> list[str]:
    rows = ["| Check | Change | Why | May break | Review |", "| --- | --- | --- | --- | --- |"]
    for ch in changes:
        review = f"**review**: {_cell(ch.review)}" if ch.review else ""
        rows.append(f"| {_cell(ch.check_id)} | {_cell(ch.what)} | {_cell(ch.why)} | {_cell(ch.may_break)} | {review} |")
    return rows


def _readme(fixes: HostFixes) -> str:
    host = _cell(fixes.host)
    out = [
        f"# Fixes for {host}",
        "",
        f"Written by dockerbench {__version__} from the host's audit (CIS Docker Benchmark v1.6.0).",
        "",
        "**Nothing in this bundle has been applied.** These are files to review: read each change, what it",
        "fixes and what it may break, then apply the ones you want yourself. A change marked *review* could not",
        "be written safely from what the audit saw and needs a person's judgement.",
        "",
        "## Files",
        "",
        "| File | What it is |",
        "| --- | --- |",
        "| README.md | this page |",
    ]
    files = host_files(fixes)
    for name, what, _f in files:
        out.append(f"| {name} | {what} |")
    dirs = container_dirs(fixes.containers)
    if fixes.containers:
        out += [
            f"| containers/NAME/{RUN} | the container's `docker run` line today (a comment) and hardened |",
            f"| containers/NAME/{COMPOSE_CURRENT} | the container as a compose service, as it runs today |",
            f"| containers/NAME/{COMPOSE} | the same service hardened: `diff {COMPOSE_CURRENT} {COMPOSE}` |",
        ]
    if not files and not fixes.containers:
        out += ["", "The audit found nothing this bundle can fix."]
    for name, _what, f in files:
        out += ["", f"## {name}", ""]
        out += _changes_table(f.changes) if f.changes else ["No change listed."]
    if fixes.containers:
        out += ["", "## Containers"]
    for c in fixes.containers:
        out += ["", f"### {_cell(c.name.lstrip('/'))} ({_cell(c.container_id[:12])})", ""]
        out += [f"In containers/{dirs[c.container_id]}/.", ""]
        out += _changes_table(c.changes) if c.changes else ["No change listed."]
    return "\n".join(out) + "\n"
