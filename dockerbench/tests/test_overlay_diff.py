"""`docker diff` read from the host's overlay2 upper directory: the API's answer, exactly, or none.

The real-container tests start containers that add, change and delete files in
every way overlayfs records (copy-ups, whiteouts, opaque directories, symlinks,
hard links, metadata-only changes, odd names) on an image whose own layers hold
whiteouts and opaque directories too, and compare the host walk with the API's
diff of every one of them, order included.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
import uuid

import docker
import docker.errors
import pytest

from dockerbench.collect import CollectOptions, Target, collect_snapshot, overlay_diff
from dockerbench.collect.docker_api import api_diff
from dockerbench.snapshot import DiffEntry

RUN = uuid.uuid4().hex[:8]
LABEL = {"dockerbench.test": f"overlay-diff-{RUN}"}

INFO = {
    "Driver": "overlay2",
    "DriverStatus": [["Backing Filesystem", "extfs"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
}

# Image layers of their own with a whiteout, an opaque directory, a file turned into a directory and
# hard links, so that the lower layers are not just the base image's.
DOCKERFILE = """FROM {base}
RUN mkdir -p /data/sub /data/gone /data/keep /olddir/inner && echo 1 > /data/sub/f && echo 2 > /data/keep/k \
 && echo 3 > /data/gone/g && ln -s keep /data/link && echo 4 > /data/file && echo 5 > /olddir/inner/x \
 && touch /data/tofile
RUN rm -rf /data/gone /data/sub && mkdir /data/sub && echo n > /data/sub/new && rm /data/tofile \
 && mkdir /data/tofile && echo d > /data/tofile/in && ln /data/file /data/hard
"""

SCRIPTS = {
    # nothing written: only the init layer's files, which the diff leaves out
    "idle": "true",
    "adds": "echo a > /added && mkdir -p /new/deep/er && echo x > /new/deep/er/f && echo y > '/with space' "
    "&& echo z > /tmp/t && echo u > /root/ünï && ln /added /added-hard && ln -s /etc/passwd /link "
    "&& ln -s /nowhere /dangling && mkfifo /tmp/fifo",
    "changes": "echo more >> /etc/passwd && chmod 700 /root && touch -d '2001-01-01 00:00:00' /tmp "
    "&& echo c >> /data/keep/k && chmod 600 /data/file && touch /bin",
    "deletes": "rm /etc/group && rm -rf /data/keep && rm /data/link && rm /data/sub/new && rm /olddir/inner/x",
    "opaque": "rm -rf /data/sub /olddir && mkdir -p /data/sub/a /olddir && echo o > /data/sub/a/o "
    "&& echo p > /olddir/p",
    "replace": "rm /data/file && mkdir /data/file && echo r > /data/file/r && rm -rf /data/keep "
    "&& echo now-a-file > /data/keep && rm /data/link && ln -s sub /data/link",
    # writes under a directory an image layer made out of a file: dockerd's walk stats through the file
    "through": "echo t > /data/tofile/more",
    "churn": "for i in 1 2 3 4 5 6 7 8 9 10; do mkdir -p /c/$i && echo $i > /c/$i/f && rm -f /bin/true; done "
    "&& rm -rf /c/3 && touch /c/4/f",
}


def _build(client: docker.DockerClient, base: str, tag: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = DOCKERFILE.format(base=base).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, labels=LABEL)


@pytest.fixture(scope="module")
def layered(docker_url, test_image):
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    info = client.info()
    if overlay_diff.driver_reason(info):
        pytest.fail(f"the test daemon cannot be read from here: {overlay_diff.driver_reason(info)}", pytrace=False)
    tag = f"dockerbench/layered:{RUN}"
    _build(client, test_image, tag)
    made = []
    try:
        for short, script in SCRIPTS.items():
            # The running ones mark the end of their script; the exited ones simply ran it.
            running = {"command": ["sh", "-c", f"{script} ; touch /ready ; exec sleep 3600"]}
            made.append(client.containers.run(tag, name=f"ovl-{RUN}-{short}", labels=LABEL, detach=True, **running))
            made.append(
                client.containers.run(
                    tag, ["sh", "-c", script], name=f"ovl-{RUN}-{short}-exited", labels=LABEL, detach=True
                )
            )
        for c in made:
            c.wait(timeout=30) if c.name.endswith("-exited") else _wait_ready(client.api, c.id)
        yield {"client": client, "containers": made, "root": info["DockerRootDir"], "info": info}
    finally:
        for c in made:
            c.remove(force=True)
        client.images.remove(tag, force=True)


def _entries(diff):
    return sorted((e.path, e.kind) for e in diff)


def _wait_ready(api: docker.APIClient, cid: str) -> None:
    deadline = time.monotonic() + 30
    while DiffEntry("A", "/ready") not in api_diff(api, cid):
        assert time.monotonic() < deadline, f"container {cid[:12]} did not finish its script"
        time.sleep(0.1)


@pytest.mark.docker
def test_the_host_walk_gives_exactly_the_api_diff_of_every_container(layered):
    api = layered["client"].api
    for c in layered["containers"]:
        host = overlay_diff.container_diff(api.inspect_container(c.id), layered["root"])
        # dockerd lists siblings in Go's map order, different from call to call: compare the entries.
        assert _entries(host) == _entries(api_diff(api, c.id)), c.name
        assert len(set(host)) == len(host)


@pytest.mark.docker
def test_the_cases_under_test_happen(layered):
    """The scenario does make whiteouts, opaque directories and parents listed only for their children."""
    api = layered["client"].api
    by_name = {c.name: set(api_diff(api, c.id)) for c in layered["containers"]}
    assert DiffEntry("D", "/etc/group") in by_name[f"ovl-{RUN}-deletes"]
    # an opaque directory: what it hid is deleted, the directory itself listed for its changes
    assert {DiffEntry("C", "/data/sub"), DiffEntry("D", "/data/sub/new")} <= by_name[f"ovl-{RUN}-opaque"]
    assert DiffEntry("A", "/with space") in by_name[f"ovl-{RUN}-adds"]
    assert DiffEntry("C", "/root") in by_name[f"ovl-{RUN}-changes"]
    # the naive differ: a directory whose mtime alone changed is no change
    assert DiffEntry("C", "/tmp") not in by_name[f"ovl-{RUN}-changes"]
    assert by_name[f"ovl-{RUN}-idle"] == {DiffEntry("A", "/ready")}
    assert by_name[f"ovl-{RUN}-idle-exited"] == set()


@pytest.mark.docker
def test_a_local_audit_takes_the_diffs_from_the_host_and_they_match(docker_url, layered):
    snap = collect_snapshot(Target(docker_url), CollectOptions(facts="none"))
    api = layered["client"].api
    ours = {c.id for c in layered["containers"]}
    got = {c.id: c for c in snap.containers or () if c.id in ours}
    assert len(got) == len(ours)
    for cid, c in got.items():
        assert c.diff is not None and _entries(c.diff) == _entries(api_diff(api, cid)), c.name
    sources = snap.connection["sources"]["diff"]
    assert sources["host"] >= len(ours)
    assert sources["host"] + sources["api"] == len(snap.containers or ())


# -- without a daemon ---------------------------------------------------------------------------


def test_only_the_differ_reproduced_here_is_read_from_the_host(tmp_path):
    (tmp_path / "overlay2").mkdir()
    params = tmp_path / "params"
    params.mkdir()
    (params / "redirect_dir").write_text("N\n")
    (params / "metacopy").write_text("N\n")
    info = {**INFO, "ServerVersion": "20.10.24+dfsg1", "DockerRootDir": str(tmp_path)}

    def reason(**changes):
        return overlay_diff.driver_reason({**info, **changes}, str(params))

    assert reason() == ""
    assert "not overlay2" in reason(Driver="btrfs")
    assert "20.10" in reason(ServerVersion="24.0.7")
    assert "userxattr" in reason(DriverStatus=[["userxattr", "true"]])
    assert "not readable here" in reason(DockerRootDir=str(tmp_path / "absent"))
    (params / "metacopy").write_text("Y\n")
    assert "metacopy is on" in reason()
    (params / "metacopy").unlink()
    assert "cannot read" in reason()


def _inspect(root, upper, *lower):
    return {
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": str(upper), "LowerDir": ":".join(map(str, lower))}}
    }


def test_layers_outside_the_data_root_or_missing_are_not_exact(tmp_path):
    root = tmp_path / "root"
    (root / "overlay2" / "c" / "diff").mkdir(parents=True)
    with pytest.raises(overlay_diff.NotExact, match="no overlay2"):
        overlay_diff.container_diff({"GraphDriver": {"Name": "overlay2", "Data": {}}}, str(root))
    with pytest.raises(overlay_diff.NotExact, match="not under"):
        overlay_diff.container_diff(_inspect(root, root / "overlay2/c/diff", tmp_path / "x"), str(root))
    gone = _inspect(root, root / "overlay2/gone/diff", root / "overlay2/c/diff")
    with pytest.raises(overlay_diff.NotExact, match="reading the writable layer failed"):
        overlay_diff.container_diff(gone, str(root))


def test_the_walk_rules_on_plain_directories(tmp_path):
    root = tmp_path
    upper, lower = root / "overlay2/c/diff", root / "overlay2/i/diff"
    for d in (upper / "etc", upper / "new/sub", upper / "same", lower / "etc", lower / "same"):
        d.mkdir(parents=True)
    (lower / "etc/passwd").write_text("a")
    (upper / "etc/passwd").write_text("b")
    os.utime(lower / "etc/passwd", ns=(1_000_000_001, 1_000_000_001))
    (upper / "etc/added").write_text("x")
    (upper / "new/sub/f").write_text("y")
    (upper / "b").write_text("z")
    (upper / "same/in").write_text("w")
    (lower / "etc/group").write_text("untouched")
    (lower / "only-below").mkdir()
    got = overlay_diff.container_diff(_inspect(root, upper, lower), str(root))
    assert got == (
        DiffEntry("A", "/b"),
        DiffEntry("C", "/etc"),  # not changed itself (a directory's mtime does not count): listed for its changes
        DiffEntry("A", "/etc/added"),
        DiffEntry("C", "/etc/passwd"),  # same size, another mtime
        DiffEntry("A", "/new"),
        DiffEntry("A", "/new/sub"),
        DiffEntry("A", "/new/sub/f"),
        DiffEntry("C", "/same"),
        DiffEntry("A", "/same/in"),
    )


def test_a_name_that_is_not_utf8_is_not_exact(tmp_path):
    upper, lower = tmp_path / "overlay2/c/diff", tmp_path / "overlay2/i/diff"
    upper.mkdir(parents=True)
    lower.mkdir(parents=True)
    (upper / os.fsdecode(b"bad\xff")).write_text("x")
    with pytest.raises(overlay_diff.NotExact, match="UTF-8"):
        overlay_diff.container_diff(_inspect(tmp_path, upper, lower), str(tmp_path))


def test_same_fs_time_follows_tar_precision():
    assert overlay_diff._same_fs_time(5_000_000_001, 5_000_000_001)
    assert overlay_diff._same_fs_time(5_000_000_000, 5_123_456_789)
    assert not overlay_diff._same_fs_time(5_000_000_001, 5_000_000_002)
    assert not overlay_diff._same_fs_time(5_000_000_000, 6_000_000_000)
