"""`docker diff` of an overlay2 container computed from its layers on this machine.

dockerd 20.10.24 answers ``GET /containers/{id}/changes`` for overlay2 with its
naive differ, whatever ``docker info`` says of "Native Overlay Diff" (observed:
a directory whose mtime alone changed is no change, which the upper-directory
walk of ``OverlayChanges`` would report). The naive differ (moby v20.10
``daemon/graphdriver/fsdiff.go`` -> ``pkg/archive`` ``ChangesDirs``) mounts the
container's layer and its init layer and compares the two trees. Both trees
are overlays of directories on this machine: the container's is its UpperDir
over its LowerDir, the init layer's is LowerDir alone (its first entry is the
init layer's own diff). This module resolves both as overlayfs does (first
layer wins, a character device 0/0 is a whiteout, a directory with
``trusted.overlay.opaque=y`` hides the layers below it, a lower non-directory
ends a directory's merge) and compares them as ``addChanges`` does:

- a name only in the container's tree is ``A``, with everything under it;
- a name only in the init tree is ``D`` (nothing under it is listed);
- a name in both is ``C`` when mode, owner, group or device number differ, or
  (not for directories) mtime or size (``statDifferent``, mtimes at tar's
  precision), or its ``security.capability`` attribute differs;
- a directory that is not itself listed but has changes under it is ``C``,
  before them; the root never is.

Where both trees resolve a name to the same file with the same layers below it
(everything the container did not touch), the subtrees are the same and are
not walked. dockerd lists siblings in Go's map order, which varies from call
to call; here they come sorted, so compare the entries, not their order.

Whatever this cannot answer exactly raises ``NotExact`` (with why), and the
caller asks the API instead: another driver, overlayfs features that move
files between layers (redirect_dir, metacopy), user.* overlay attributes, a
layer outside the daemon's data root, a name that is not UTF-8, any I/O error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockerbench.snapshot import DiffEntry

OPAQUE_XATTR = b"trusted.overlay.opaque"
CAPABILITY_XATTR = b"security.capability"
# overlayfs attributes that do not change what a directory shows (opaque is read; redirect, metacopy are not)
HARMLESS_XATTRS = frozenset({"opaque", "origin", "impure", "nlink", "uuid", "upper"})
OVERLAY_PARAMS = "/sys/module/overlay/parameters"
# Engines whose overlay2 `docker diff` is the naive differ reproduced here, checked against the API.
NAIVE_DIFF_VERSIONS = ("20.10.",)


class NotExact(Exception):  # noqa: N818 - a reason to ask the API, not a failure
    """The layers could not give exactly the daemon's answer for this container."""


def driver_reason(info: dict[str, Any], params: str = OVERLAY_PARAMS) -> str:
    """Why this daemon's diffs cannot be computed here ("" when they can), from ``docker info``."""
    if info.get("Driver") != "overlay2":
        return f"storage driver {info.get('Driver') or 'unknown'}, not overlay2"
    version = str(info.get("ServerVersion") or "")
    if not version.startswith(NAIVE_DIFF_VERSIONS):
        return f"the differ of Docker {version or '?'} is not the one reproduced here (20.10's)"
    status = {str(k): str(v) for k, v in (info.get("DriverStatus") or ()) if isinstance(k, str)}
    if status.get("userxattr", "false") != "false":
        return "the overlay keeps its attributes as user.* xattrs (userxattr)"
    for param in ("redirect_dir", "metacopy"):
        try:
            with open(os.path.join(params, param), encoding="ascii") as fh:
                value = fh.read().strip()
        except OSError:
            return f"cannot read the overlay module's {param} setting"
        if value not in ("N", "off"):
            return f"overlayfs {param} is on: files may live in other layers than their names"
    root = str(info.get("DockerRootDir") or "")
    if not root or not os.path.isdir(os.path.join(root, "overlay2")):
        return f"the daemon's data root {root or '?'} is not readable here"
    return ""


def layers_of(inspect: dict[str, Any], root: str) -> tuple[bytes, list[bytes]]:
    """The container's upper directory and its lower ones (top first), from its inspect."""
    driver = inspect.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    upper, lower = data.get("UpperDir"), data.get("LowerDir")
    if driver.get("Name") != "overlay2" or not isinstance(upper, str) or not isinstance(lower, str) or not lower:
        raise NotExact("the inspect names no overlay2 upper and lower directories")
    base = os.path.join(root, "overlay2") + "/"
    dirs = [upper, *lower.split(":")]
    if not all(os.path.normpath(d).startswith(base) for d in dirs):
        raise NotExact("the layers are not under the daemon's data root")
    return os.fsencode(upper), [os.fsencode(d) for d in dirs[1:]]


def _same_fs_time(a_ns: int, b_ns: int) -> bool:
    """pkg/archive sameFsTimeSpec: the same second, and the same nanoseconds or either at 0 (tar's precision)."""
    a_sec, a_frac = divmod(a_ns, 1_000_000_000)
    b_sec, b_frac = divmod(b_ns, 1_000_000_000)
    return a_sec == b_sec and (a_frac == b_frac or a_frac == 0 or b_frac == 0)


def _stat_different(old: os.stat_result, new: os.stat_result) -> bool:
    """pkg/archive statDifferent: size and mtime are not looked at for directories."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    if stat.S_ISDIR(old.st_mode):
        return False
    return not _same_fs_time(old.st_mtime_ns, new.st_mtime_ns) or old.st_size != new.st_size


def _capability(path: bytes) -> bytes:
    try:
        return os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return b""  # dockerd ignores the error too (and nil equals empty)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: bytes) -> bool:
    """Whether a directory hides the layers below it; NotExact for overlay attributes not reproduced."""
    names = os.listxattr(path, follow_symlinks=False)
    if not any(n.startswith("trusted.overlay.") for n in names):
        return False
    for name in names:
        if name.startswith("trusted.overlay.") and name.removeprefix("trusted.overlay.") not in HARMLESS_XATTRS:
            raise NotExact(f"{os.fsdecode(path)} has {name}")
    if "trusted.overlay.opaque" not in names:
        return False
    value = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False)
    if value != b"y":
        raise NotExact(f"{os.fsdecode(path)} has trusted.overlay.opaque={value!r}")
    return True


@dataclass(frozen=True)
class _Entry:
    """A name as one overlay resolves it: the file that shows, and for a directory the layers it merges."""

    path: bytes
    st: os.stat_result
    dirs: tuple[bytes, ...]

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _children(dirs: tuple[bytes, ...]) -> dict[bytes, _Entry]:
    """The names in a merged directory (``dirs`` top layer first), as overlayfs shows them."""
    found: dict[bytes, tuple[bytes, os.stat_result, list[bytes]]] = {}
    done: set[bytes] = set()  # names whose merge has ended (a whiteout, a non-directory, an opaque directory)
    for d in dirs:
        for name in os.listdir(d):
            if name in done:
                continue
            path = d + b"/" + name
            st = os.lstat(path)
            is_dir = stat.S_ISDIR(st.st_mode)
            entry = found.get(name)
            if entry is None:
                if _is_whiteout(st):
                    done.add(name)
                    continue
                found[name] = (path, st, [path] if is_dir else [])
                if not is_dir or _opaque(path):
                    done.add(name)
            elif is_dir:  # a lower directory under the directory above: merged in
                entry[2].append(path)
                if _opaque(path):
                    done.add(name)
            else:  # a whiteout or a non-directory under a directory ends its merge
                done.add(name)
    return {name: _Entry(path, st, tuple(ds)) for name, (path, st, ds) in found.items()}


def _add_changes(rel: bytes, new: _Entry, old: _Entry | None, added: bool, out: list[tuple[str, bytes]]) -> None:
    """pkg/archive FileInfo.addChanges for the name at ``rel`` (b"" the root), on resolved entries."""
    start = len(out)
    new_children = _children(new.dirs) if new.is_dir else {}
    old_children = _children(old.dirs) if old is not None and old.is_dir and new.is_dir else {}
    for name in sorted(new_children):
        child, before = new_children[name], old_children.pop(name, None)
        path = rel + b"/" + name
        if before is not None and before.path == child.path and before.dirs == child.dirs:
            continue  # the very same file and layers in both trees: nothing under it differs
        listed = True
        if before is None:
            out.append(("A", path))
        elif _stat_different(before.st, child.st) or _capability(before.path) != _capability(child.path):
            out.append(("C", path))
        else:
            listed = False
        _add_changes(path, child, before, listed, out)
    for name in sorted(old_children):
        out.append(("D", rel + b"/" + name))
    if len(out) > start and new.is_dir and not added and rel:
        out.insert(start, ("C", rel))


def changes(upper: bytes, layers: list[bytes]) -> tuple[DiffEntry, ...]:
    """ChangesDirs(container's tree, init layer's tree) of moby v20.10, on this machine's files."""
    for d in (upper, *layers):
        if _opaque(d):
            raise NotExact("a layer's root is opaque")
    container = _Entry(upper, os.lstat(upper), (upper, *layers))
    init = _Entry(layers[0], os.lstat(layers[0]), tuple(layers))
    found: list[tuple[str, bytes]] = []
    _add_changes(b"", container, init, False, found)
    try:
        return tuple(DiffEntry(kind, path.decode("utf-8")) for kind, path in found)
    except UnicodeDecodeError as exc:
        raise NotExact("a path is not UTF-8 (the API would replace its bytes)") from exc


def container_diff(inspect: dict[str, Any], root: str) -> tuple[DiffEntry, ...]:
    """The container's ``docker diff`` from its layers; NotExact when it must come from the API."""
    upper, layers = layers_of(inspect, root)
    try:
        return changes(upper, layers)
    except OSError as exc:
        raise NotExact(f"reading the writable layer failed: {exc}") from exc


def reader_for(info: dict[str, Any]) -> Callable[[dict[str, Any]], tuple[DiffEntry, ...]] | None:
    """A container_diff bound to this daemon's data root, or None when its diffs cannot be read here."""
    if driver_reason(info):
        return None
    root = str(info["DockerRootDir"])
    return lambda inspect: container_diff(inspect, root)
