"""Capture the engine's JSON snapshot fixtures from real Docker hosts.

Each profile is a real dockerd, started in a network namespace of its own (so
its bridge and iptables rules never touch the host's docker0), configured like
a kind of host ops teams really have, with containers running on it:

* default: dockerd as a package installs it, one ordinary container;
* misconfigured: debug logging, an insecure registry, experimental features,
  a world-writable daemon.json, and containers with the classic mistakes;
* hardened: a daemon.json that follows the benchmark, hardened containers only.

The snapshots are collected with local host facts, exactly as
``python -m dockerbench --facts local --save-snapshot`` would, and written to
dockerbench/tests/fixtures/hosts/<profile>.json. Run as root:

    .venv/bin/python scripts/capture_fixtures.py [--profile NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dockerbench.collect import CollectOptions, Target, collect_snapshot  # noqa: E402

OUT = ROOT / "dockerbench" / "tests" / "fixtures" / "hosts"
IMAGE = "dockerbench/busybox:test"
SLEEP = ["sleep", "3600"]

PROFILES: dict[str, dict] = {
    "default": {
        "daemon_json": None,
        "flags": [],
        "containers": {"web": {"ports": {"8080/tcp": 8080}}},
    },
    "misconfigured": {
        "daemon_json": ({"log-level": "debug", "insecure-registries": ["registry.internal:5000"]}, 0o666),
        "flags": ["--experimental"],
        "containers": {
            "rootrw": {"volumes": {"/": {"bind": "/hostroot", "mode": "rw"}}},
            "lowport": {"ports": {"80/tcp": ("0.0.0.0", 80)}},
            "hostns": {"network_mode": "host", "pid_mode": "host", "ipc_mode": "host", "uts_mode": "host"},
            "sock": {"volumes": {"SOCKET": {"bind": "/var/run/docker.sock", "mode": "rw"}}},
            "always": {"restart_policy": {"Name": "always"}},
            "caps": {"cap_add": ["NET_ADMIN", "SYS_ADMIN"]},
            "unconfined": {"security_opt": ["seccomp=unconfined"]},
        },
    },
    "hardened": {
        "daemon_json": (
            {
                "icc": False,
                "log-level": "info",
                "live-restore": True,
                "userland-proxy": False,
                "no-new-privileges": True,
                "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 1024}},
            },
            0o644,
        ),
        "flags": [],
        "containers": {
            "app": {
                "read_only": True,
                "tmpfs": {"/tmp": "rw,noexec,nosuid,size=8m"},
                "user": "65534:65534",
                "mem_limit": "64m",
                "cpu_shares": 512,
                "pids_limit": 64,
                "security_opt": ["no-new-privileges:true"],
                "cap_drop": ["ALL"],
                "healthcheck": {"test": ["CMD", "true"], "interval": 5_000_000_000},
                "ports": {"8080/tcp": ("127.0.0.1", 8080)},
                "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5},
            }
        },
    },
}


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


@contextmanager
def daemon(profile: str, spec: dict):
    """A dockerd in its own network namespace, torn down afterwards."""
    ns = f"dbfx-{profile}"
    base = Path(f"/var/lib/dockerbench-fx/{profile}")
    run = Path(f"/run/dockerbench-fx/{profile}")
    etc = Path(f"/etc/dockerbench-fx/{profile}")
    for d in (base, run, etc):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    sock = run / "docker.sock"
    sh("ip", "netns", "add", ns)
    sh("nsenter", f"--net=/run/netns/{ns}", "ip", "link", "set", "lo", "up")
    # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup mounts dockerd needs.
    argv = [
        "nsenter",
        f"--net=/run/netns/{ns}",
        "dockerd",
        "--data-root",
        str(base / "data"),
        "--exec-root",
        str(run / "exec"),
        "--pidfile",
        str(run / "docker.pid"),
        "-H",
        f"unix://{sock}",
        *spec["flags"],
    ]
    if spec["daemon_json"] is not None:
        content, mode = spec["daemon_json"]
        cfg = etc / "daemon.json"
        cfg.write_text(json.dumps(content, indent=2) + "\n")
        cfg.chmod(mode)
        argv += ["--config-file", str(cfg)]
    log = open(run / "dockerd.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = docker.DockerClient(base_url=f"unix://{sock}", timeout=60, version="1.41")
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError((run / "dockerd.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield f"unix://{sock}", client
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        sh("ip", "netns", "del", ns, check=False)
        for d in (base, run, etc):
            shutil.rmtree(d, ignore_errors=True)


def load_image(client: docker.DockerClient) -> None:
    local = docker.from_env()
    data = b"".join(local.images.get(IMAGE).save(named=True))
    client.images.load(data)


def capture(profile: str) -> Path:
    spec = PROFILES[profile]
    with daemon(profile, spec) as (url, client):
        load_image(client)
        for name, kwargs in spec["containers"].items():
            if "SOCKET" in kwargs.get("volumes", {}):  # this daemon's own socket
                kwargs = {**kwargs, "volumes": {url.removeprefix("unix://"): kwargs["volumes"]["SOCKET"]}}
            c = client.containers.run(IMAGE, SLEEP, name=name, detach=True, **kwargs)
            if not kwargs.get("read_only"):
                c.exec_run(["sh", "-c", "echo changed > /etc/motd; mkdir -p /opt/app; touch /opt/app/state"])
        snap = collect_snapshot(Target(url), CollectOptions(facts="local"))
        for c in client.containers.list(all=True):
            c.remove(force=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{profile}.json"
    path.write_text(snap.to_json(indent=1) + "\n")
    return path


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: it starts dockerd and network namespaces", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", choices=sorted(PROFILES))
    args = parser.parse_args()
    for profile in args.profile or list(PROFILES):
        print("captured", capture(profile).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
