"""The CIS Docker Benchmark v1.6.0 recommendations, as data, and our own beyond it.

Titles and ids follow the benchmark; the remediation text is our own. Every
recommendation has: what to change, one or more concrete fixes (a ``docker run``
flag, a compose key, a daemon.json key, a shell command or an audit rule) and
links to Docker's documentation.

``RECOMMENDATIONS``, ``BY_ID`` and ``SECTIONS`` are the benchmark's and nothing
else: the score and every count of CIS checks read them. Our own checks, with
ids of their own (``"S.1"``), are in ``EXTRA_RECOMMENDATIONS`` and
``EXTRA_SECTIONS``; ``ALL_BY_ID`` has both, for whatever shows any check's
title or remediation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    # "docker run", "compose", "daemon.json", "dockerd", "shell", "audit rule", "systemd", "swarm", "Dockerfile"
    kind: str
    text: str


@dataclass(frozen=True)
class Recommendation:
    id: str
    section: str  # "1" .. "7"
    title: str
    automated: bool
    level: int | None
    v180_id: str  # the same recommendation's id in benchmark v1.8.0
    remediation: str = ""
    fixes: tuple[Fix, ...] = ()
    docs: tuple[str, ...] = ()
    # "CIS" for the benchmark's; "dockerbench" for our own (EXTRA_RECOMMENDATIONS), outside the CIS score.
    benchmark: str = "CIS"


SECTIONS: dict[str, str] = {
    "1": "Host Configuration",
    "2": "Docker daemon configuration",
    "3": "Docker daemon configuration files",
    "4": "Container Images and Build File",
    "5": "Container Runtime",
    "6": "Docker Security Operations",
    "7": "Docker Swarm Configuration",
}


_SECURITY = "https://docs.docker.com/engine/security/"
_AUDITCTL = "https://man7.org/linux/man-pages/man8/auditctl.8.html"
_AUDIT_DOCS = (_SECURITY, _AUDITCTL)
_AUDIT_RULES_FILE = "/etc/audit/rules.d/docker.rules"


def _audit_fixes(path: str, permissions: str = "") -> tuple[Fix, ...]:
    """The auditd watch for one path, and the command that loads it so it survives a reboot.

    Without ``permissions`` auditd records every kind of access (read, write, execute, attribute change).
    """
    rule = f"-w {path} -p {permissions} -k docker" if permissions else f"-w {path} -k docker"
    return (
        Fix("audit rule", rule),
        Fix("shell", f"echo '{rule}' >> {_AUDIT_RULES_FILE} && augenrules --load"),
    )


RECOMMENDATIONS: tuple[Recommendation, ...] = (
    Recommendation(
        id="1.1.1",
        section="1",
        title="Ensure a separate partition for containers has been created",
        automated=True,
        level=1,
        v180_id="1.1.1",
        remediation=(
            "Docker keeps images, container layers, volumes and logs under its data root, which is "
            "/var/lib/docker unless data-root says otherwise. If that directory shares a filesystem with / "
            "or /var, a container that writes without limit can fill the disk and take the host down with "
            "it. Give the data root its own partition or logical volume, mounted with nodev, and move the "
            "existing data onto it while the daemon is stopped."
        ),
        fixes=(
            Fix(
                "shell",
                (
                    "systemctl stop docker docker.socket && mkfs.xfs /dev/vg0/docker && mount /dev/vg0/docker /mnt "
                    "&& rsync -aHAX /var/lib/docker/ /mnt/ && umount /mnt && echo '/dev/vg0/docker /var/lib/docker "
                    "xfs defaults,nodev 0 2' >> /etc/fstab && mount /var/lib/docker && systemctl start docker"
                ),
            ),
            Fix("daemon.json", '{"data-root": "/srv/docker"}'),
        ),
        docs=(
            "https://docs.docker.com/engine/daemon/#daemon-data-directory",
            "https://docs.docker.com/reference/cli/dockerd/",
        ),
    ),
    Recommendation(
        id="1.1.2",
        section="1",
        title="Ensure only trusted users are allowed to control Docker daemon",
        automated=True,
        level=1,
        v180_id="1.1.2",
        remediation=(
            "Anyone who can talk to the Docker socket can start a privileged container that mounts the "
            "host's root filesystem, so membership of the docker group is equivalent to root on the host. "
            "Keep that group to the few administrators and service accounts that really need it, and "
            "review it whenever people change roles. Prefer sudo or rootless Docker for everyone else."
        ),
        fixes=(
            Fix("shell", "getent group docker"),
            Fix("shell", "gpasswd --delete alice docker"),
        ),
        docs=(
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
            "https://docs.docker.com/engine/install/linux-postinstall/#manage-docker-as-a-non-root-user",
        ),
    ),
    Recommendation(
        id="1.1.3",
        section="1",
        title="Ensure auditing is configured for the Docker daemon",
        automated=True,
        level=1,
        v180_id="1.1.3",
        remediation=(
            "dockerd runs as root and acts on every container, so a replaced or tampered binary "
            "compromises the whole host. Add an auditd watch on the dockerd binary (use the path `command "
            "-v dockerd` prints) so that every execution and change of it is logged with the key docker, "
            "and load the rule persistently."
        ),
        fixes=_audit_fixes("/usr/bin/dockerd"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.4",
        section="1",
        title="Ensure auditing is configured for Docker files and directories -/run/containerd",
        automated=True,
        level=1,
        v180_id="1.1.4",
        remediation=(
            "/run/containerd holds containerd's runtime state: its sockets, the shim sockets and the "
            "bundles of running containers. Writes there can hijack or disrupt running workloads without "
            "touching Docker's own files. Watch the directory for writes and attribute changes with auditd "
            "so such changes leave a trail."
        ),
        fixes=_audit_fixes("/run/containerd", "wa"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.5",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /var/lib/docker",
        automated=True,
        level=1,
        v180_id="1.1.5",
        remediation=(
            "The data root (/var/lib/docker by default, see `docker info --format '{{.DockerRootDir}}'`) "
            "holds every image layer, container filesystem and volume, so tampering there changes what "
            "containers run. Watch it for writes and attribute changes; leave reads out of the rule, "
            "because the daemon reads it constantly and the log would drown in noise."
        ),
        fixes=_audit_fixes("/var/lib/docker", "wa"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.6",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /etc/docker",
        automated=True,
        level=1,
        v180_id="1.1.6",
        remediation=(
            "/etc/docker holds daemon.json, the TLS keys and the registry certificates, the files that "
            "decide how the daemon trusts and authenticates. Audit every access to this directory so that "
            "a changed setting or a read of a private key can be traced back to a user and process."
        ),
        fixes=_audit_fixes("/etc/docker"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.7",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - docker.service",
        automated=True,
        level=None,
        v180_id="1.1.7",
        remediation=(
            "The docker.service unit decides the command line dockerd starts with, so editing it can "
            "silently turn off protections or expose the API. Watch the unit file that systemd actually "
            "loads (find it with `systemctl show -p FragmentPath docker.service`; it is often "
            "/lib/systemd/system or /usr/lib/systemd/system) and any drop-ins under "
            "/etc/systemd/system/docker.service.d."
        ),
        fixes=_audit_fixes("/usr/lib/systemd/system/docker.service"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.8",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - containerd.sock",
        automated=True,
        level=None,
        v180_id="1.1.8",
        remediation=(
            "containerd.sock is containerd's API; whoever can use it can create and control containers "
            "below Docker, bypassing any authorization plugin on the Docker socket. Add an auditd watch on "
            "/run/containerd/containerd.sock so that changes to the socket's ownership or mode, and its "
            "replacement, are recorded."
        ),
        fixes=_audit_fixes("/run/containerd/containerd.sock"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.9",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - docker.socket",
        automated=True,
        level=None,
        v180_id="1.1.9",
        remediation=(
            "The docker.socket unit sets the owner, group and mode of the Docker API socket that systemd "
            "creates, so an edit can open the API to every local user. Audit the unit file systemd uses "
            "(see `systemctl show -p FragmentPath docker.socket`) so that any change to it is logged."
        ),
        fixes=_audit_fixes("/usr/lib/systemd/system/docker.socket"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.10",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /etc/default/docker",
        automated=True,
        level=2,
        v180_id="1.1.10",
        remediation=(
            "On Debian-style hosts, /etc/default/docker can add options to the daemon's command line and "
            "set its environment, for example a proxy. Audit it so a change to how dockerd starts is "
            "recorded; if the file does not exist on this host, the rule still records its creation."
        ),
        fixes=_audit_fixes("/etc/default/docker"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.11",
        section="1",
        title="Ensure auditing is configured for Dockerfiles and directories - /etc/docker/daemon.json",
        automated=True,
        level=2,
        v180_id="1.1.11",
        remediation=(
            "daemon.json is the main configuration of the daemon: TLS, user namespaces, logging, "
            "registries and more. A silent edit can weaken every container on the host at the next "
            "restart. Watch the file (/etc/docker/daemon.json, or the path given to --config-file) with "
            "auditd."
        ),
        fixes=_audit_fixes("/etc/docker/daemon.json"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.12",
        section="1",
        title="Ensure auditing is configured for Dockerfiles and directories - /etc/containerd/config.toml",
        automated=True,
        level=2,
        v180_id="1.1.12",
        remediation=(
            "containerd reads /etc/containerd/config.toml for its runtimes, registry mirrors and plugin "
            "settings, which sit below Docker and apply to every container. Audit the file so changes to "
            "the runtime configuration are traceable."
        ),
        fixes=_audit_fixes("/etc/containerd/config.toml"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.13",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /etc/sysconfig/docker",
        automated=True,
        level=2,
        v180_id="1.1.13",
        remediation=(
            "On Red Hat-style hosts, /etc/sysconfig/docker feeds options and environment variables into "
            "the daemon's start-up. Add an auditd watch on it so any change to the daemon's start-up "
            "options is logged."
        ),
        fixes=_audit_fixes("/etc/sysconfig/docker"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.14",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /usr/bin/containerd",
        automated=True,
        level=2,
        v180_id="1.1.14",
        remediation=(
            "The containerd binary runs as root and starts every container that Docker creates; a modified "
            "binary compromises all of them. Watch it with auditd (check the real path with `command -v "
            "containerd`), so that executions and replacements, for example by a package upgrade, are "
            "recorded."
        ),
        fixes=_audit_fixes("/usr/bin/containerd"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.15",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim",
        automated=True,
        level=2,
        v180_id="1.1.15",
        remediation=(
            "containerd-shim is the legacy per-container process that sits between containerd and the "
            "runtime. Where the binary is installed, audit it like the other runtime binaries. Recent "
            "containerd releases no longer ship it; in that case there is nothing to watch and the rule "
            "cannot be loaded."
        ),
        fixes=_audit_fixes("/usr/bin/containerd-shim"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.16",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v1",
        automated=True,
        level=2,
        v180_id="1.1.16",
        remediation=(
            "containerd-shim-runc-v1 is the older runc shim; every container that uses it is started and "
            "supervised through this binary. If it is installed, add an auditd watch on it; if your "
            "containerd version no longer ships it, remove it from your expectations rather than creating "
            "the file."
        ),
        fixes=_audit_fixes("/usr/bin/containerd-shim-runc-v1"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.17",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v2",
        automated=True,
        level=2,
        v180_id="1.1.17",
        remediation=(
            "containerd-shim-runc-v2 is the shim that current Docker engines use for every Linux "
            "container, and it runs as root for the container's whole life. Audit the binary so that its "
            "replacement or execution outside normal operation is logged."
        ),
        fixes=_audit_fixes("/usr/bin/containerd-shim-runc-v2"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.1.18",
        section="1",
        title="Ensure auditing is configured for Docker files and directories - /usr/bin/runc",
        automated=True,
        level=2,
        v180_id="1.1.18",
        remediation=(
            "runc is the low-level runtime that actually creates the namespaces and cgroups of each "
            "container, and several container escapes have targeted it directly. Watch the runc binary "
            "(check `command -v runc`) with auditd so that any change to it is recorded."
        ),
        fixes=_audit_fixes("/usr/bin/runc"),
        docs=_AUDIT_DOCS,
    ),
    Recommendation(
        id="1.2.1",
        section="1",
        title="Ensure the container host has been Hardened",
        automated=False,
        level=1,
        v180_id="1.2.1",
        remediation=(
            "Containers share the host's kernel, so a weak host undoes every container control. Harden the "
            "host itself: a minimal, supported distribution, a current kernel, only the services the host "
            "needs, SSH keys instead of passwords, a host firewall, and your operating system's own "
            "benchmark applied. Review this by hand against your hardening standard; the audit cannot "
            "judge it for you."
        ),
        fixes=(
            Fix("shell", "systemctl list-units --type=service --state=running"),
            Fix("shell", "apt-get update && apt-get upgrade --yes"),
        ),
        docs=(
            "https://docs.docker.com/engine/security/",
            "https://docs.docker.com/engine/security/#other-kernel-security-features",
        ),
    ),
    Recommendation(
        id="1.2.2",
        section="1",
        title="Ensure that the version of Docker is up to date",
        automated=False,
        level=1,
        v180_id="1.2.2",
        remediation=(
            "Every Docker release fixes bugs and some fix security flaws in dockerd, containerd or runc. "
            "Compare the running engine version with the current release notes, and upgrade the engine "
            "packages on a regular schedule after testing them. Old major versions stop receiving fixes "
            "entirely."
        ),
        fixes=(
            Fix("shell", "docker version --format '{{.Server.Version}}'"),
            Fix("shell", "apt-get update && apt-get install --only-upgrade docker-ce docker-ce-cli containerd.io"),
        ),
        docs=(
            "https://docs.docker.com/engine/release-notes/",
            "https://docs.docker.com/engine/install/",
        ),
    ),
    Recommendation(
        id="2.1",
        section="2",
        title="Run the Docker daemon as a non-root user, if possible",
        automated=False,
        level=1,
        v180_id="2.1",
        remediation=(
            "A daemon that runs as root turns any escape from a container or any abuse of the API into "
            "root on the host. Where your workloads allow it, run Docker in rootless mode, so that the "
            "daemon and its containers run as an unprivileged user. Rootless mode has limits (some network "
            "and storage features, ports below 1024), so review it per host and record why the host still "
            "runs the rootful daemon."
        ),
        fixes=(
            Fix("shell", "dockerd-rootless-setuptool.sh install"),
            Fix(
                "shell",
                "systemctl --user enable --now docker && export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock",
            ),
        ),
        docs=("https://docs.docker.com/engine/security/rootless/",),
    ),
    Recommendation(
        id="2.2",
        section="2",
        title="Ensure network traffic is restricted between containers on the default bridge",
        automated=True,
        level=1,
        v180_id="2.2",
        remediation=(
            "On the default bridge, every container can reach every other container's ports, so one "
            "compromised container can attack the rest. Set icc to false so traffic between containers on "
            "docker0 is dropped unless it is explicitly allowed, and put services that must talk to each "
            "other on a user-defined network of their own."
        ),
        fixes=(
            Fix("daemon.json", '{"icc": false}'),
            Fix("dockerd", "dockerd --icc=false"),
        ),
        docs=(
            "https://docs.docker.com/engine/network/drivers/bridge/#options",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="2.3",
        section="2",
        title="Ensure the logging level is set to 'info'",
        automated=True,
        level=1,
        v180_id="2.3",
        remediation=(
            "At the info level the daemon logs what you need to reconstruct events, such as containers "
            "started and images pulled, without the volume of debug. Set log-level to info (or remove the "
            "setting, since info is the default) and turn debug on only while troubleshooting."
        ),
        fixes=(
            Fix("daemon.json", '{"log-level": "info"}'),
            Fix("dockerd", "dockerd --log-level=info"),
        ),
        docs=(
            "https://docs.docker.com/engine/daemon/logs/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="2.4",
        section="2",
        title="Ensure Docker is allowed to make changes to iptables",
        automated=True,
        level=1,
        v180_id="2.4",
        remediation=(
            "Docker writes the firewall rules that isolate networks and publish ports. With iptables "
            "disabled those rules are missing, and containers can end up reachable or able to reach places "
            "you did not intend. Leave iptables enabled (true is the default) and add your own rules to "
            "the DOCKER-USER chain instead of turning Docker's management off."
        ),
        fixes=(
            Fix("daemon.json", '{"iptables": true}'),
            Fix("shell", "iptables -I DOCKER-USER -i eth0 ! -s 192.0.2.0/24 -j DROP"),
        ),
        docs=(
            (
                "https://docs.docker.com/engine/network/packet-filtering-firewalls/"
                "#prevent-docker-from-manipulating-iptables"
            ),
            "https://docs.docker.com/engine/network/packet-filtering-firewalls/",
        ),
    ),
    Recommendation(
        id="2.5",
        section="2",
        title="Ensure insecure registries are not used",
        automated=True,
        level=1,
        v180_id="2.5",
        remediation=(
            "An insecure registry is reached over plain HTTP or with unverified TLS, so anyone on the path "
            "can read or replace the images you pull. Remove every entry from insecure-registries, and "
            "give private registries a certificate the daemon trusts, placing their CA under "
            "/etc/docker/certs.d/<registry>/."
        ),
        fixes=(
            Fix("daemon.json", '{"insecure-registries": []}'),
            Fix(
                "shell",
                (
                    "mkdir -p /etc/docker/certs.d/registry.example.com:5000 && cp ca.crt "
                    "/etc/docker/certs.d/registry.example.com:5000/"
                ),
            ),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/dockerd/#insecure-registries",
            "https://docs.docker.com/engine/security/certificates/",
        ),
    ),
    Recommendation(
        id="2.6",
        section="2",
        title="Ensure aufs storage driver is not used",
        automated=True,
        level=1,
        v180_id="2.6",
        remediation=(
            "aufs is an out-of-tree filesystem that is no longer maintained, has known kernel bugs and was "
            "removed from Docker Engine. Switch the storage driver to overlay2. Images and containers "
            "stored by aufs are not visible under the new driver, so push or save what you need, change "
            "the driver, and pull again."
        ),
        fixes=(
            Fix("daemon.json", '{"storage-driver": "overlay2"}'),
            Fix("dockerd", "dockerd --storage-driver=overlay2"),
        ),
        docs=(
            "https://docs.docker.com/engine/storage/drivers/select-storage-driver/",
            "https://docs.docker.com/engine/deprecated/#aufs-storage-driver",
        ),
    ),
    Recommendation(
        id="2.7",
        section="2",
        title="Ensure TLS authentication for Docker daemon is configured",
        automated=True,
        level=1,
        v180_id="2.8",
        remediation=(
            "A daemon listening on TCP without mutual TLS gives root on the host to anyone who can reach "
            "the port. If the API must be reachable over the network, enable tlsverify with a CA, server "
            "certificate and key, so that only clients holding a certificate signed by your CA get in. If "
            "nothing needs remote access, do not listen on TCP at all, or use SSH instead."
        ),
        fixes=(
            Fix(
                "daemon.json",
                (
                    '{"tlsverify": true, "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": '
                    '"/etc/docker/tls/server-cert.pem", "tlskey": "/etc/docker/tls/server-key.pem"}'
                ),
            ),
            Fix(
                "dockerd",
                (
                    "dockerd --tlsverify --tlscacert=/etc/docker/tls/ca.pem "
                    "--tlscert=/etc/docker/tls/server-cert.pem --tlskey=/etc/docker/tls/server-key.pem -H "
                    "unix:///var/run/docker.sock -H tcp://0.0.0.0:2376"
                ),
            ),
        ),
        docs=(
            (
                "https://docs.docker.com/engine/security/protect-access/"
                "#use-tls-https-to-protect-the-docker-daemon-socket"
            ),
            "https://docs.docker.com/engine/daemon/remote-access/",
        ),
    ),
    Recommendation(
        id="2.8",
        section="2",
        title="Ensure the default ulimit is configured appropriately",
        automated=False,
        level=None,
        v180_id="2.9",
        remediation=(
            "Without a default ulimit, containers inherit the daemon's limits, which are usually very "
            "high, so one container can exhaust file descriptors for the whole host. Set default-ulimits "
            "on the daemon to values that suit your workloads and raise them per container only where "
            "needed. Review the chosen numbers by hand; there is no single right value."
        ),
        fixes=(
            Fix("daemon.json", '{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}}}'),
            Fix("dockerd", "dockerd --default-ulimit nofile=1024:4096"),
        ),
        docs=("https://docs.docker.com/reference/cli/dockerd/#default-ulimit-settings",),
    ),
    Recommendation(
        id="2.9",
        section="2",
        title="Enable user namespace support",
        automated=True,
        level=2,
        v180_id="2.10",
        remediation=(
            "Without user namespace remapping, root inside a container is root on the host, so any escape "
            "lands with full privileges. Enable userns-remap so container UIDs map to an unprivileged "
            "range of subordinate IDs on the host. Existing images and volumes are stored per mapping, and "
            "a few features (host network or PID namespace, some volume drivers) need --userns=host, so "
            "plan the switch."
        ),
        fixes=(
            Fix("daemon.json", '{"userns-remap": "default"}'),
            Fix("dockerd", "dockerd --userns-remap=default"),
        ),
        docs=(
            "https://docs.docker.com/engine/security/userns-remap/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-user-namespace-options",
        ),
    ),
    Recommendation(
        id="2.10",
        section="2",
        title="Ensure the default cgroup usage has been confirmed",
        automated=True,
        level=None,
        v180_id="2.11",
        remediation=(
            "The cgroup parent decides which part of the cgroup tree, and therefore which limits and "
            "accounting, containers fall under. Leave cgroup-parent unset so containers use Docker's "
            "default parent, unless you deliberately place them under a slice you manage. If the setting "
            "is present, confirm who set it and why."
        ),
        fixes=(
            Fix("shell", "grep -n cgroup-parent /etc/docker/daemon.json; ps -o args= -C dockerd"),
            Fix(
                "shell",
                (
                    "jq 'del(.\"cgroup-parent\")' /etc/docker/daemon.json > /tmp/daemon.json && mv "
                    "/tmp/daemon.json /etc/docker/daemon.json && systemctl restart docker"
                ),
            ),
        ),
        docs=("https://docs.docker.com/reference/cli/dockerd/#default-cgroup-parent",),
    ),
    Recommendation(
        id="2.11",
        section="2",
        title="Ensure base device size is not changed until needed",
        automated=True,
        level=None,
        v180_id="2.12",
        remediation=(
            "The dm.basesize storage option of the devicemapper driver changes the size of every "
            "container's base device, and enlarging it lets containers consume far more disk. Do not set "
            "dm.basesize unless a workload needs it; better, move off devicemapper, which current engines "
            "no longer support, to overlay2."
        ),
        fixes=(
            Fix("shell", "grep -n 'dm.basesize' /etc/docker/daemon.json; ps -o args= -C dockerd"),
            Fix(
                "shell",
                (
                    'jq \'."storage-opts" |= map(select(startswith("dm.basesize") | not))\' '
                    "/etc/docker/daemon.json > /tmp/daemon.json && mv /tmp/daemon.json /etc/docker/daemon.json && "
                    "systemctl restart docker"
                ),
            ),
            Fix("daemon.json", '{"storage-driver": "overlay2"}'),
        ),
        docs=(
            "https://docs.docker.com/engine/storage/drivers/select-storage-driver/",
            "https://docs.docker.com/engine/storage/drivers/device-mapper-driver/",
        ),
    ),
    Recommendation(
        id="2.12",
        section="2",
        title="Ensure that authorization for Docker client commands is enabled",
        automated=True,
        level=None,
        v180_id="2.13",
        remediation=(
            "Access to the Docker API is all or nothing by default: anyone who can use the socket can do "
            "anything, including start privileged containers. An authorization plugin checks each API "
            "request against your policy, for example forbidding --privileged or host mounts for some "
            "users. Install one that fits your needs and enable it on the daemon."
        ),
        fixes=(
            Fix("daemon.json", '{"authorization-plugins": ["opa-docker-authz"]}'),
            Fix("dockerd", "dockerd --authorization-plugin=opa-docker-authz"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/dockerd/#access-authorization",
            "https://docs.docker.com/engine/extend/plugins_authorization/",
        ),
    ),
    Recommendation(
        id="2.13",
        section="2",
        title="Ensure centralized and remote logging is configured",
        automated=True,
        level=None,
        v180_id="2.14",
        remediation=(
            "Logs kept only on the host disappear with the host and can be altered by whoever compromised "
            "it. Send container logs to a central log service with a remote logging driver (syslog over "
            "TLS, journald with forwarding, fluentd, gelf, and so on), configured as the daemon-wide "
            "default."
        ),
        fixes=(
            Fix(
                "daemon.json",
                ('{"log-driver": "syslog", "log-opts": {"syslog-address": "tcp+tls://logs.example.com:6514"}}'),
            ),
            Fix(
                "docker run",
                "docker run --log-driver syslog --log-opt syslog-address=tcp+tls://logs.example.com:6514 IMAGE",
            ),
        ),
        docs=(
            "https://docs.docker.com/engine/logging/configure/",
            "https://docs.docker.com/engine/logging/drivers/syslog/",
        ),
    ),
    Recommendation(
        id="2.14",
        section="2",
        title="Ensure containers are restricted from acquiring new privileges",
        automated=True,
        level=None,
        v180_id="2.15",
        remediation=(
            "setuid and setgid programs inside a container can raise a process's privileges after it has "
            "started, which is a common step in exploits. Set no-new-privileges on the daemon so every "
            "container starts with the kernel's no_new_privs flag, and only images that truly rely on "
            "setuid binaries need an exception."
        ),
        fixes=(
            Fix("daemon.json", '{"no-new-privileges": true}'),
            Fix("dockerd", "dockerd --no-new-privileges"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
            "https://docs.docker.com/reference/cli/docker/container/run/#security-opt",
        ),
    ),
    Recommendation(
        id="2.15",
        section="2",
        title="Ensure live restore is enabled",
        automated=True,
        level=None,
        v180_id="2.16",
        remediation=(
            "With live restore, containers keep running while the daemon stops or restarts, for an upgrade "
            "or a crash, so a daemon problem does not become an outage of every service on the host. "
            "Enable live-restore. It cannot be used together with swarm mode."
        ),
        fixes=(
            Fix("daemon.json", '{"live-restore": true}'),
            Fix("dockerd", "dockerd --live-restore"),
        ),
        docs=("https://docs.docker.com/engine/daemon/live-restore/",),
    ),
    Recommendation(
        id="2.16",
        section="2",
        title="Ensure Userland Proxy is Disabled",
        automated=True,
        level=None,
        v180_id="2.17",
        remediation=(
            "For each published port the daemon can start a docker-proxy process in user space; where the "
            "kernel can forward the traffic itself with NAT rules, that proxy is one more component "
            "listening on the host. Disable userland-proxy on hosts where hairpin NAT works, and test "
            "published ports, including access from the host itself, after the change."
        ),
        fixes=(
            Fix("daemon.json", '{"userland-proxy": false}'),
            Fix("dockerd", "dockerd --userland-proxy=false"),
        ),
        docs=(
            "https://docs.docker.com/engine/network/port-publishing/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="2.17",
        section="2",
        title="Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
        automated=False,
        level=None,
        v180_id="2.18",
        remediation=(
            "Docker's default seccomp profile blocks a few dozen risky system calls and suits most "
            "workloads. If your policy needs a stricter set, write your own profile and make it the "
            "daemon-wide default with seccomp-profile, then test the workloads against it. Review by hand "
            "whether the default is enough for this host."
        ),
        fixes=(
            Fix("daemon.json", '{"seccomp-profile": "/etc/docker/seccomp/strict.json"}'),
            Fix("dockerd", "dockerd --seccomp-profile=/etc/docker/seccomp/strict.json"),
        ),
        docs=("https://docs.docker.com/engine/security/seccomp/",),
    ),
    Recommendation(
        id="2.18",
        section="2",
        title="Ensure that experimental features are not implemented in production",
        automated=True,
        level=None,
        v180_id="2.19",
        remediation=(
            "Experimental features are unfinished, change without notice and have had less security "
            "review. Keep experimental set to false on production daemons and try new features on test "
            "hosts."
        ),
        fixes=(
            Fix("daemon.json", '{"experimental": false}'),
            Fix("shell", "docker version --format '{{.Server.Experimental}}'"),
        ),
        docs=("https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",),
    ),
    Recommendation(
        id="3.1",
        section="3",
        title="Ensure that the docker.service file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.1",
        remediation=(
            "The docker.service unit defines how dockerd starts; if a user other than root owns it, that "
            "user can change the daemon's command line. Make the unit file, wherever systemd loads it "
            "from, owned by root:root."
        ),
        fixes=(Fix("shell", 'chown root:root "$(systemctl show -p FragmentPath --value docker.service)"'),),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/engine/security/",
        ),
    ),
    Recommendation(
        id="3.2",
        section="3",
        title="Ensure that docker.service file permissions are appropriately set",
        automated=True,
        level=None,
        v180_id="3.2",
        remediation=(
            "A docker.service file writable by group or others lets non-root users change what the daemon "
            "runs with. Set its mode to 644 or stricter, then reload systemd."
        ),
        fixes=(
            Fix(
                "shell",
                'chmod 644 "$(systemctl show -p FragmentPath --value docker.service)" && systemctl daemon-reload',
            ),
        ),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/engine/security/",
        ),
    ),
    Recommendation(
        id="3.3",
        section="3",
        title="Ensure that docker.socket file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.3",
        remediation=(
            "docker.socket sets who may connect to the API socket that systemd creates. Make sure "
            "root:root owns the unit file, so no one else can loosen those settings."
        ),
        fixes=(Fix("shell", 'chown root:root "$(systemctl show -p FragmentPath --value docker.socket)"'),),
        docs=(
            "https://docs.docker.com/engine/security/protect-access/",
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
        ),
    ),
    Recommendation(
        id="3.4",
        section="3",
        title="Ensure that docker.socket file permissions are set to 644 or more restrictive",
        automated=True,
        level=None,
        v180_id="3.4",
        remediation=(
            "If docker.socket is writable by anyone but root, its SocketMode and SocketGroup can be "
            "changed to open the Docker API to more users. Set the unit file's mode to 644 or stricter and "
            "reload systemd."
        ),
        fixes=(
            Fix(
                "shell",
                'chmod 644 "$(systemctl show -p FragmentPath --value docker.socket)" && systemctl daemon-reload',
            ),
        ),
        docs=(
            "https://docs.docker.com/engine/security/protect-access/",
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
        ),
    ),
    Recommendation(
        id="3.5",
        section="3",
        title="Ensure that the /etc/docker directory ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.5",
        remediation=(
            "/etc/docker holds the daemon's configuration, keys and registry certificates. Whoever owns "
            "the directory can replace any of them, so it must be owned by root:root."
        ),
        fixes=(Fix("shell", "chown root:root /etc/docker"),),
        docs=(
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
            "https://docs.docker.com/engine/security/certificates/",
        ),
    ),
    Recommendation(
        id="3.6",
        section="3",
        title="Ensure that /etc/docker directory permissions are set to 755 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.6",
        remediation=(
            "If group or others can write to /etc/docker, they can add or swap files in it, such as "
            "daemon.json or a registry CA. Set the directory mode to 755 or stricter."
        ),
        fixes=(Fix("shell", "chmod 755 /etc/docker"),),
        docs=(
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
            "https://docs.docker.com/engine/security/certificates/",
        ),
    ),
    Recommendation(
        id="3.7",
        section="3",
        title="Ensure that registry certificate file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.7",
        remediation=(
            "The daemon trusts registries through certificates under /etc/docker/certs.d. If someone other "
            "than root owns them, that person can make the daemon trust a rogue registry. Give root:root "
            "ownership of the whole tree."
        ),
        fixes=(Fix("shell", "chown -R root:root /etc/docker/certs.d"),),
        docs=("https://docs.docker.com/engine/security/certificates/",),
    ),
    Recommendation(
        id="3.8",
        section="3",
        title="Ensure that registry certificate file permissions are set to 444 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.8",
        remediation=(
            "Registry certificates are read by the daemon and should never change in place. Make every "
            "file under /etc/docker/certs.d read-only (444, or 400 for client keys), so they cannot be "
            "swapped or edited without root changing the mode first."
        ),
        fixes=(
            Fix("shell", "find /etc/docker/certs.d -type f -name '*.crt' -exec chmod 444 {} +"),
            Fix("shell", "find /etc/docker/certs.d -type f -name '*.key' -exec chmod 400 {} +"),
        ),
        docs=("https://docs.docker.com/engine/security/certificates/",),
    ),
    Recommendation(
        id="3.9",
        section="3",
        title="Ensure that TLS CA certificate file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.9",
        remediation=(
            "The CA file named by tlscacert decides which client certificates the daemon accepts. Whoever "
            "owns it can add their own CA and let themselves in, so it must be owned by root:root."
        ),
        fixes=(Fix("shell", "chown root:root /etc/docker/tls/ca.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.10",
        section="3",
        title="Ensure that TLS CA certificate file permissions are set to 444 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.10",
        remediation=(
            "The TLS CA certificate only needs to be read. Set it to 444 or stricter so that nobody, not "
            "even its owner without first changing the mode, can alter the set of trusted client issuers."
        ),
        fixes=(Fix("shell", "chmod 444 /etc/docker/tls/ca.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.11",
        section="3",
        title="Ensure that Docker server certificate file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.11",
        remediation=(
            "The server certificate named by tlscert is what clients verify the daemon against. Make "
            "root:root its owner so no other account can replace it with a certificate of their choosing."
        ),
        fixes=(Fix("shell", "chown root:root /etc/docker/tls/server-cert.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.12",
        section="3",
        title="Ensure that the Docker server certificate file permissions are set to 444 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.12",
        remediation=(
            "The daemon's server certificate is public but must not change. Set its mode to 444 or "
            "stricter so that it cannot be overwritten in place."
        ),
        fixes=(Fix("shell", "chmod 444 /etc/docker/tls/server-cert.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.13",
        section="3",
        title="Ensure that the Docker server certificate key file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.13",
        remediation=(
            "The server key named by tlskey lets its holder impersonate the daemon to every client. Only "
            "root may own it: set root:root."
        ),
        fixes=(Fix("shell", "chown root:root /etc/docker/tls/server-key.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.14",
        section="3",
        title="Ensure that the Docker server certificate key file permissions are set to 400",
        automated=True,
        level=None,
        v180_id="3.14",
        remediation=(
            "The server's private key must be readable by root alone and by no group or other user. Set "
            "the mode to exactly 400."
        ),
        fixes=(Fix("shell", "chmod 400 /etc/docker/tls/server-key.pem"),),
        docs=("https://docs.docker.com/engine/security/protect-access/",),
    ),
    Recommendation(
        id="3.15",
        section="3",
        title="Ensure that the Docker socket file ownership is set to root:docker",
        automated=True,
        level=None,
        v180_id="3.15",
        remediation=(
            "The Docker socket is the API itself. It should belong to root, with the docker group as its "
            "group so that only the group's members can use it. Set root:docker on the socket, and set the "
            "same in the docker.socket unit so the ownership survives a restart."
        ),
        fixes=(
            Fix("shell", "chown root:docker /var/run/docker.sock"),
            Fix("systemd", "# systemctl edit docker.socket\n[Socket]\nSocketUser=root\nSocketGroup=docker"),
        ),
        docs=(
            "https://docs.docker.com/engine/install/linux-postinstall/#manage-docker-as-a-non-root-user",
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
        ),
    ),
    Recommendation(
        id="3.16",
        section="3",
        title="Ensure that the Docker socket file permissions are set to 660 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.16",
        remediation=(
            "Any user who can write to the Docker socket controls the daemon, which means root on the "
            "host. Keep the socket at 660 or stricter so only root and the docker group can connect, and "
            "pin the mode in the docker.socket unit."
        ),
        fixes=(
            Fix("shell", "chmod 660 /var/run/docker.sock"),
            Fix("systemd", "# systemctl edit docker.socket\n[Socket]\nSocketMode=0660"),
        ),
        docs=(
            "https://docs.docker.com/engine/security/protect-access/",
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
        ),
    ),
    Recommendation(
        id="3.17",
        section="3",
        title="Ensure that the daemon.json file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.17",
        remediation=(
            "daemon.json configures the daemon at every start. If anyone but root owns it, they can change "
            "that configuration, so set root:root on the file."
        ),
        fixes=(Fix("shell", "chown root:root /etc/docker/daemon.json"),),
        docs=("https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",),
    ),
    Recommendation(
        id="3.18",
        section="3",
        title="Ensure that daemon.json file permissions are set to 644 or more restrictive",
        automated=True,
        level=None,
        v180_id="3.18",
        remediation=(
            "daemon.json must only be writable by root. Set its mode to 644 or stricter, so others can at most read it."
        ),
        fixes=(Fix("shell", "chmod 644 /etc/docker/daemon.json"),),
        docs=("https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",),
    ),
    Recommendation(
        id="3.19",
        section="3",
        title="Ensure that the /etc/default/docker file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.19",
        remediation=(
            "/etc/default/docker can inject options and environment into the daemon on Debian-style "
            "systems. If the file exists, root:root must own it."
        ),
        fixes=(Fix("shell", "chown root:root /etc/default/docker"),),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="3.20",
        section="3",
        title="Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.20",
        remediation=(
            "Only root should be able to write /etc/default/docker, since its contents reach the daemon's "
            "start-up. Set the file to 644 or stricter."
        ),
        fixes=(Fix("shell", "chmod 644 /etc/default/docker"),),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="3.21",
        section="3",
        title="Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.21",
        remediation=(
            "/etc/sysconfig/docker feeds the daemon's options on Red Hat-style systems, so write access to "
            "it is write access to the daemon's configuration. Set it to 644 or stricter."
        ),
        fixes=(Fix("shell", "chmod 644 /etc/sysconfig/docker"),),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="3.22",
        section="3",
        title="Ensure that the /etc/sysconfig/docker file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.22",
        remediation=(
            "Whoever owns /etc/sysconfig/docker can change the options the daemon starts with on Red "
            "Hat-style systems. If the file is present, make root:root its owner."
        ),
        fixes=(Fix("shell", "chown root:root /etc/sysconfig/docker"),),
        docs=(
            "https://docs.docker.com/engine/daemon/start/",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="3.23",
        section="3",
        title="Ensure that the Containerd socket file ownership is set to root:root",
        automated=True,
        level=None,
        v180_id="3.23",
        remediation=(
            "The containerd socket gives full control over containers below Docker. It must be owned by "
            "root:root, never by a regular user or a shared group."
        ),
        fixes=(Fix("shell", "chown root:root /run/containerd/containerd.sock"),),
        docs=("https://docs.docker.com/engine/security/#docker-daemon-attack-surface",),
    ),
    Recommendation(
        id="3.24",
        section="3",
        title="Ensure that the Containerd socket file permissions are set to 660 or more restrictively",
        automated=True,
        level=None,
        v180_id="3.24",
        remediation=(
            "Anyone who can connect to containerd.sock can start containers with any privileges. Keep the "
            "socket at 660 or stricter; containerd recreates it at start-up, so also check the mode after "
            "a restart."
        ),
        fixes=(Fix("shell", "chmod 660 /run/containerd/containerd.sock"),),
        docs=("https://docs.docker.com/engine/security/#docker-daemon-attack-surface",),
    ),
    Recommendation(
        id="4.1",
        section="4",
        title="Ensure that a user for the container has been created",
        automated=True,
        level=None,
        v180_id="4.1",
        remediation=(
            "Containers run as root unless the image or the run command says otherwise, and root inside a "
            "container is much closer to root on the host than any other user. Create a dedicated user in "
            "the image and switch to it with USER, or run the container with --user."
        ),
        fixes=(
            Fix("Dockerfile", "RUN groupadd --system app && useradd --system --gid app --no-create-home app\nUSER app"),
            Fix("docker run", "docker run --user 10001:10001 IMAGE"),
            Fix("compose", 'services:\n  app:\n    user: "10001:10001"'),
        ),
        docs=(
            "https://docs.docker.com/reference/dockerfile/#user",
            "https://docs.docker.com/build/building/best-practices/#user",
        ),
    ),
    Recommendation(
        id="4.2",
        section="4",
        title="Ensure that containers use only trusted base images",
        automated=False,
        level=None,
        v180_id="4.2",
        remediation=(
            "A base image runs with your application's privileges, so its origin matters as much as your "
            "own code. Build only on images from sources you trust, such as Docker Official Images, "
            "verified publishers or your own registry, and pin them by digest so a tag cannot silently "
            "change under you. Review the FROM lines of your Dockerfiles and the registries your hosts "
            "pull from."
        ),
        fixes=(
            Fix("Dockerfile", "FROM docker.io/library/debian:12-slim@sha256:<digest>"),
            Fix("shell", "docker image inspect --format '{{.RepoDigests}}' IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/build/building/best-practices/#choose-the-right-base-image",
            "https://docs.docker.com/build/building/best-practices/#pin-base-image-versions",
        ),
    ),
    Recommendation(
        id="4.3",
        section="4",
        title="Ensure that unnecessary packages are not installed in the container",
        automated=False,
        level=None,
        v180_id="4.3",
        remediation=(
            "Every extra package in an image adds code that can have vulnerabilities and tools an intruder "
            "can use. Install only what the application needs at run time, skip recommended packages, and "
            "use multi-stage builds so compilers and build tools stay out of the final image. Review the "
            "package list of each image by hand."
        ),
        fixes=(
            Fix(
                "Dockerfile",
                (
                    "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf "
                    "/var/lib/apt/lists/*"
                ),
            ),
            Fix(
                "Dockerfile",
                "FROM golang:1.22 AS build\n...\nFROM gcr.io/distroless/static\nCOPY --from=build /out/app /app",
            ),
        ),
        docs=(
            "https://docs.docker.com/build/building/best-practices/#dont-install-unnecessary-packages",
            "https://docs.docker.com/build/building/multi-stage/",
        ),
    ),
    Recommendation(
        id="4.4",
        section="4",
        title="Ensure images are scanned and rebuilt to include security patches",
        automated=False,
        level=None,
        v180_id="4.4",
        remediation=(
            "Images are frozen at build time, so vulnerabilities found later stay in them until they are "
            "rebuilt. Scan images regularly, rebuild them from a freshly pulled base without the build "
            "cache, and redeploy the containers that use them. Check that your pipeline does this on a "
            "schedule, not only on code changes. Given the images' vulnerability reports (Trivy, Grype, "
            "Clair), dockerbench warns for each image with a critical vulnerability that has a fixed version."
        ),
        fixes=(
            Fix("shell", "trivy image -f json -o report.json IMAGE"),
            Fix("shell", "docker scout cves IMAGE"),
            Fix("shell", "docker build --pull --no-cache -t IMAGE . && docker push IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/build/building/best-practices/#rebuild-your-images-often",
            "https://docs.docker.com/scout/",
        ),
    ),
    Recommendation(
        id="4.5",
        section="4",
        title="Ensure Content trust for Docker is Enabled",
        automated=True,
        level=None,
        v180_id="4.5",
        remediation=(
            "Without content trust the client accepts whatever a registry returns for a tag. With "
            "DOCKER_CONTENT_TRUST=1, pull, run and build only use images whose tags are signed, so a "
            "tampered or unsigned image is refused. Set the variable for the shells and CI jobs that talk "
            "to this engine."
        ),
        fixes=(
            Fix("shell", "echo 'export DOCKER_CONTENT_TRUST=1' > /etc/profile.d/docker-content-trust.sh"),
            Fix("shell", "DOCKER_CONTENT_TRUST=1 docker pull IMAGE"),
        ),
        docs=("https://docs.docker.com/engine/security/trust/",),
    ),
    Recommendation(
        id="4.6",
        section="4",
        title="Ensure that HEALTHCHECK instructions have been added to container images",
        automated=True,
        level=None,
        v180_id="4.6",
        remediation=(
            "A running process is not necessarily a working service. A HEALTHCHECK lets the engine, and "
            "orchestrators on top of it, notice a hung application and restart or replace it. Add a "
            "HEALTHCHECK that exercises the service to every image that runs one."
        ),
        fixes=(
            Fix(
                "Dockerfile",
                (
                    "HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q --spider "
                    "http://127.0.0.1:8080/healthz || exit 1"
                ),
            ),
        ),
        docs=(
            "https://docs.docker.com/reference/dockerfile/#healthcheck",
            "https://docs.docker.com/engine/containers/run/#healthchecks",
        ),
    ),
    Recommendation(
        id="4.7",
        section="4",
        title="Ensure update instructions are not used alone in the Dockerfile",
        automated=False,
        level=None,
        v180_id="4.7",
        remediation=(
            "An `apt-get update` (or `apk update`, `yum makecache`) in a layer of its own is cached, so "
            "later builds install packages from a stale index and miss security fixes. Run the update and "
            "the install in the same RUN instruction, or build with --no-cache when you want fresh "
            "packages. Review your Dockerfiles for update lines that stand alone."
        ),
        fixes=(
            Fix(
                "Dockerfile",
                (
                    "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf "
                    "/var/lib/apt/lists/*"
                ),
            ),
            Fix("shell", "docker build --no-cache -t IMAGE ."),
        ),
        docs=("https://docs.docker.com/build/building/best-practices/#apt-get",),
    ),
    Recommendation(
        id="4.8",
        section="4",
        title="Ensure setuid and setgid permissions are removed",
        automated=False,
        level=None,
        v180_id="4.8",
        remediation=(
            "setuid and setgid binaries run with their owner's privileges, so each one is a possible path "
            "to root inside the container. Remove the bits from every file the application does not need "
            "them on, as a last step of the build. List the remaining ones in each image and review them."
        ),
        fixes=(
            Fix("Dockerfile", "RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + || true"),
            Fix("shell", "docker run --rm --entrypoint find IMAGE / -xdev -perm /6000 -type f"),
        ),
        docs=(
            "https://docs.docker.com/engine/security/",
            "https://docs.docker.com/build/building/best-practices/#user",
        ),
    ),
    Recommendation(
        id="4.9",
        section="4",
        title="Ensure that COPY is used instead of ADD in Dockerfiles",
        automated=False,
        level=None,
        v180_id="4.9",
        remediation=(
            "ADD also fetches URLs and unpacks archives, which can bring unexpected or unverified files "
            "into an image. Use COPY for local files. Fetch remote content only with a checksum check, "
            "either in a RUN step or with ADD --checksum, and unpack archives explicitly. Review "
            "Dockerfiles for ADD instructions."
        ),
        fixes=(Fix("Dockerfile", "COPY ./app /opt/app"),),
        docs=(
            "https://docs.docker.com/build/building/best-practices/#add-or-copy",
            "https://docs.docker.com/reference/dockerfile/#copy",
        ),
    ),
    Recommendation(
        id="4.10",
        section="4",
        title="Ensure secrets are not stored in Dockerfiles",
        automated=False,
        level=None,
        v180_id="4.10",
        remediation=(
            "Anything written into a Dockerfile (ENV, ARG, a copied file) ends up in the image layers or "
            "its history, where anyone who can pull the image can read it. Pass secrets to the build with "
            "build secrets, which are mounted only during a single RUN step, and give secrets to "
            "containers at run time. Review Dockerfiles and `docker history` output for credentials."
        ),
        fixes=(
            Fix("Dockerfile", "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci"),
            Fix("shell", "docker build --secret id=npmrc,src=$HOME/.npmrc -t IMAGE ."),
        ),
        docs=("https://docs.docker.com/build/building/secrets/",),
    ),
    Recommendation(
        id="4.11",
        section="4",
        title="Ensure only verified packages are installed",
        automated=False,
        level=None,
        v180_id="4.11",
        remediation=(
            "Packages and downloads fetched during a build can be tampered with on the way if nothing "
            "checks them. Install packages only from repositories whose signing keys you have pinned, and "
            "verify checksums or signatures of anything downloaded by hand. Review each Dockerfile's "
            "sources."
        ),
        fixes=(
            Fix(
                "Dockerfile",
                (
                    "RUN curl -fsSLo /tmp/tool.tgz https://example.com/tool-1.2.3.tgz && echo '<sha256>  "
                    "/tmp/tool.tgz' | sha256sum -c -"
                ),
            ),
            Fix("Dockerfile", "ADD --checksum=sha256:<sha256> https://example.com/tool-1.2.3.tgz /tmp/"),
        ),
        docs=(
            "https://docs.docker.com/reference/dockerfile/#add",
            "https://docs.docker.com/build/building/best-practices/#apt-get",
        ),
    ),
    Recommendation(
        id="4.12",
        section="4",
        title="Ensure all signed artifacts are validated",
        automated=False,
        level=None,
        v180_id="4.12",
        remediation=(
            "A signature only protects you if someone checks it. Verify the signatures of the images and "
            "other artifacts you deploy before they run, in the pipeline and on the host, and reject those "
            "that are unsigned or signed by an unknown key. Review how your deployment process validates "
            "them."
        ),
        fixes=(
            Fix("shell", "docker trust inspect --pretty IMAGE:TAG"),
            Fix("shell", "DOCKER_CONTENT_TRUST=1 docker pull IMAGE:TAG"),
        ),
        docs=("https://docs.docker.com/engine/security/trust/",),
    ),
    Recommendation(
        id="5.1",
        section="5",
        title="Ensure swarm mode is not Enabled, if not needed",
        automated=True,
        level=None,
        v180_id="5.1",
        remediation=(
            "Swarm mode opens management ports (2377, 7946, 4789) and runs an extra control plane on the "
            "host. If this host is not part of a swarm on purpose, leave the swarm so those listeners go "
            "away."
        ),
        fixes=(
            Fix("swarm", "docker swarm leave"),
            Fix("shell", "docker info --format '{{.Swarm.LocalNodeState}}'"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/swarm/leave/",),
    ),
    Recommendation(
        id="5.2",
        section="5",
        title="Ensure that, if applicable, an AppArmor Profile is enabled",
        automated=True,
        level=None,
        v180_id="5.2",
        remediation=(
            "AppArmor confines what a container's processes can do with files, mounts and the network, on "
            "top of capabilities. On hosts that support AppArmor, run every container with a profile, "
            "either Docker's docker-default or a tighter one of your own, and never with "
            "apparmor=unconfined."
        ),
        fixes=(
            Fix("docker run", "docker run --security-opt apparmor=docker-default IMAGE"),
            Fix("compose", "services:\n  app:\n    security_opt:\n      - apparmor=docker-default"),
        ),
        docs=("https://docs.docker.com/engine/security/apparmor/",),
    ),
    Recommendation(
        id="5.3",
        section="5",
        title="Ensure that, if applicable, SELinux security options are set",
        automated=True,
        level=None,
        v180_id="5.3",
        remediation=(
            "On SELinux hosts, labels keep containers from touching each other's files and the host's. "
            "Enable SELinux support in the daemon so containers get their own labels, and do not turn "
            "labeling off with label=disable."
        ),
        fixes=(
            Fix("daemon.json", '{"selinux-enabled": true}'),
            Fix("docker run", "docker run --security-opt label=level:s0:c100,c200 IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#security-opt",
            "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file",
        ),
    ),
    Recommendation(
        id="5.4",
        section="5",
        title="Ensure that Linux kernel capabilities are restricted within containers",
        automated=True,
        level=None,
        v180_id="5.4",
        remediation=(
            "Each Linux capability is a piece of root's power, and added ones like SYS_ADMIN or NET_ADMIN "
            "let a container act on the host kernel. Drop all capabilities and add back only the few the "
            "process needs; never add capabilities just to make something work."
        ),
        fixes=(
            Fix("docker run", "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE"),
            Fix("compose", "services:\n  web:\n    cap_drop: [ALL]\n    cap_add: [NET_BIND_SERVICE]"),
        ),
        docs=(
            "https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities",
            "https://docs.docker.com/engine/security/#linux-kernel-capabilities",
        ),
    ),
    Recommendation(
        id="5.5",
        section="5",
        title="Ensure that privileged containers are not used",
        automated=True,
        level=None,
        v180_id="5.5",
        remediation=(
            "--privileged gives a container every capability, access to all host devices and no seccomp or "
            "AppArmor confinement: it is practically root on the host. Remove it, and grant the specific "
            "capability or device the workload needs instead."
        ),
        fixes=(
            Fix("docker run", "docker run --cap-drop ALL --cap-add SYS_TIME IMAGE"),
            Fix("compose", "services:\n  web:\n    privileged: false\n    cap_drop: [ALL]"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#privileged",
            "https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities",
        ),
    ),
    Recommendation(
        id="5.6",
        section="5",
        title="Ensure sensitive host system directories are not mounted on containers",
        automated=True,
        level=None,
        v180_id="5.6",
        remediation=(
            "Mounting host directories such as /, /etc, /boot, /dev, /proc, /sys or /usr into a container "
            "lets it read secrets or rewrite the host. Mount only the specific application directories a "
            "container needs, read-only wherever possible."
        ),
        fixes=(
            Fix("docker run", "docker run -v /srv/app/config:/etc/app:ro IMAGE"),
            Fix("compose", "services:\n  app:\n    volumes:\n      - /srv/app/config:/etc/app:ro"),
        ),
        docs=("https://docs.docker.com/engine/storage/bind-mounts/",),
    ),
    Recommendation(
        id="5.7",
        section="5",
        title="Ensure sshd is not run within containers",
        automated=True,
        level=None,
        v180_id="5.7",
        remediation=(
            "An SSH server inside a container is one more service to patch, another set of credentials to "
            "manage, and a way in that bypasses Docker's controls. Remove sshd from the image and use "
            "`docker exec` on the host when you need a shell."
        ),
        fixes=(
            Fix("shell", "docker exec -it CONTAINER sh"),
            Fix("Dockerfile", "RUN apt-get purge -y openssh-server"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/exec/",),
    ),
    Recommendation(
        id="5.8",
        section="5",
        title="Ensure privileged ports are not mapped within containers",
        automated=True,
        level=None,
        v180_id="5.8",
        remediation=(
            "Host ports below 1024 are reserved for privileged services, and mapping a container onto them "
            "puts it in the place of a system service. Publish container ports on host ports of 1024 and "
            "above, and put a load balancer or reverse proxy in front where a well-known port is required."
        ),
        fixes=(
            Fix("docker run", "docker run -p 8080:80 IMAGE"),
            Fix("compose", 'services:\n  web:\n    ports:\n      - "8080:80"'),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#publish",
            "https://docs.docker.com/engine/network/port-publishing/",
        ),
    ),
    Recommendation(
        id="5.9",
        section="5",
        title="Ensure that only needed ports are open on the container",
        automated=False,
        level=None,
        v180_id="5.9",
        remediation=(
            "Every published port is reachable from outside the host. Publish only the ports the service "
            "must offer, list them explicitly instead of publishing everything the image exposes with -P, "
            "and remove the ones nobody uses. Review each container's published ports."
        ),
        fixes=(
            Fix("shell", "docker ps --format '{{.Names}}\\t{{.Ports}}'"),
            Fix("docker run", "docker run -p 127.0.0.1:8443:8443 IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#publish-all",
            "https://docs.docker.com/engine/network/port-publishing/",
        ),
    ),
    Recommendation(
        id="5.10",
        section="5",
        title="Ensure that the host's network namespace is not shared",
        automated=True,
        level=None,
        v180_id="5.10",
        remediation=(
            "With --network host a container shares the host's network stack: it can bind to any host "
            "address, see all interfaces and talk to services listening only on localhost. Put containers "
            "on a bridge or other user-defined network and publish the ports they need."
        ),
        fixes=(
            Fix("docker run", "docker network create app-net && docker run --network app-net IMAGE"),
            Fix("compose", "services:\n  app:\n    networks: [app-net]\nnetworks:\n  app-net: {}"),
        ),
        docs=(
            "https://docs.docker.com/engine/network/drivers/host/",
            "https://docs.docker.com/reference/cli/docker/container/run/#network",
        ),
    ),
    Recommendation(
        id="5.11",
        section="5",
        title="Ensure that the memory usage for containers is limited",
        automated=True,
        level=None,
        v180_id="5.11",
        remediation=(
            "A container without a memory limit can use all of the host's memory and push the kernel into "
            "killing other processes, including other containers. Set a memory limit sized for the "
            "workload on every container; setting --memory-swap to the same value also prevents swapping "
            "past it."
        ),
        fixes=(
            Fix("docker run", "docker run --memory 512m --memory-swap 512m IMAGE"),
            Fix("compose", "services:\n  app:\n    mem_limit: 512m\n    memswap_limit: 512m"),
            Fix("shell", "docker update --memory 512m --memory-swap 512m CONTAINER"),
        ),
        docs=(
            "https://docs.docker.com/engine/containers/resource_constraints/#memory",
            "https://docs.docker.com/reference/cli/docker/container/run/#memory",
        ),
    ),
    Recommendation(
        id="5.12",
        section="5",
        title="Ensure that CPU priority is set appropriately on containers",
        automated=True,
        level=None,
        v180_id="5.12",
        remediation=(
            "By default all containers get the same CPU weight, so a busy one slows everything else under "
            "contention. Set CPU shares (a relative weight, 1024 by default) or a hard --cpus limit, so "
            "important services keep their share."
        ),
        fixes=(
            Fix("docker run", "docker run --cpu-shares 512 IMAGE"),
            Fix("compose", "services:\n  app:\n    cpu_shares: 512"),
            Fix("shell", "docker update --cpu-shares 512 CONTAINER"),
        ),
        docs=(
            "https://docs.docker.com/engine/containers/run/#cpu-share-constraint",
            "https://docs.docker.com/engine/containers/resource_constraints/#cpu",
        ),
    ),
    Recommendation(
        id="5.13",
        section="5",
        title="Ensure that the container's root filesystem is mounted as read only",
        automated=True,
        level=None,
        v180_id="5.13",
        remediation=(
            "A writable root filesystem lets an intruder drop tools, change binaries or persist changes "
            "inside the container. Run containers with a read-only root filesystem, and give them tmpfs or "
            "volumes only for the paths they really write to."
        ),
        fixes=(
            Fix("docker run", "docker run --read-only --tmpfs /tmp -v app-data:/var/lib/app IMAGE"),
            Fix("compose", "services:\n  app:\n    read_only: true\n    tmpfs:\n      - /tmp"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#read-only",),
    ),
    Recommendation(
        id="5.14",
        section="5",
        title="Ensure that incoming container traffic is bound to a specific host interface",
        automated=True,
        level=None,
        v180_id="5.14",
        remediation=(
            "A port published without a host address listens on every interface of the host, including "
            "public ones. Bind published ports to the specific address that should receive the traffic, "
            "often 127.0.0.1 behind a reverse proxy, or set a safer default bind address on the daemon."
        ),
        fixes=(
            Fix("docker run", "docker run -p 127.0.0.1:8080:80 IMAGE"),
            Fix("compose", 'services:\n  web:\n    ports:\n      - "127.0.0.1:8080:80"'),
            Fix("daemon.json", '{"ip": "127.0.0.1"}'),
        ),
        docs=(
            "https://docs.docker.com/engine/network/port-publishing/",
            "https://docs.docker.com/reference/cli/docker/container/run/#publish",
        ),
    ),
    Recommendation(
        id="5.15",
        section="5",
        title="Ensure that the 'on-failure' container restart policy is set to '5'",
        automated=True,
        level=None,
        v180_id="5.15",
        remediation=(
            "restart=always restarts a crashing container forever, which hides failures and can keep a "
            "broken or abused service running. Use on-failure with a retry limit of 5, so repeated "
            "failures stop and get noticed."
        ),
        fixes=(
            Fix("docker run", "docker run --restart on-failure:5 IMAGE"),
            Fix("compose", 'services:\n  app:\n    restart: "on-failure:5"'),
            Fix("shell", "docker update --restart on-failure:5 CONTAINER"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#restart",
            "https://docs.docker.com/engine/containers/start-containers-automatically/",
        ),
    ),
    Recommendation(
        id="5.16",
        section="5",
        title="Ensure that the host's process namespace is not shared",
        automated=True,
        level=None,
        v180_id="5.16",
        remediation=(
            "With --pid host a container sees every process on the host and, with enough privilege, can "
            "signal or trace them. Remove the option so the container gets its own process namespace; use "
            "a sidecar that shares only the target container's namespace when you need to debug."
        ),
        fixes=(
            Fix("docker run", "docker run --pid container:TARGET debug-image"),
            Fix("compose", "services:\n  app:\n    # remove: pid: host\n    image: IMAGE"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#pid",),
    ),
    Recommendation(
        id="5.17",
        section="5",
        title="Ensure that the host's IPC namespace is not shared",
        automated=True,
        level=None,
        v180_id="5.17",
        remediation=(
            "Sharing the host's IPC namespace exposes the host's shared memory segments, semaphores and "
            "message queues to the container. Give each container its own IPC namespace; if two containers "
            "must share memory, share it between those containers only."
        ),
        fixes=(
            Fix("docker run", "docker run --ipc private IMAGE"),
            Fix("compose", "services:\n  app:\n    ipc: private"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#ipc",),
    ),
    Recommendation(
        id="5.18",
        section="5",
        title="Ensure that host devices are not directly exposed to containers",
        automated=False,
        level=None,
        v180_id="5.18",
        remediation=(
            "A host device passed into a container is reachable from its processes, and with write or "
            "mknod rights it can be used to reach host data or the kernel directly. Pass only the devices "
            "a workload needs, with the narrowest permissions (r, w, m), and review every --device in use."
        ),
        fixes=(
            Fix("docker run", "docker run --device /dev/ttyUSB0:/dev/ttyUSB0:r IMAGE"),
            Fix("compose", 'services:\n  app:\n    devices:\n      - "/dev/ttyUSB0:/dev/ttyUSB0:r"'),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#device",),
    ),
    Recommendation(
        id="5.19",
        section="5",
        title="Ensure that the default ulimit is overwritten at runtime if needed",
        automated=False,
        level=None,
        v180_id="5.19",
        remediation=(
            "The daemon's default ulimits should fit most containers. Override them for a container only "
            "where the workload needs it, for example a database that needs more open files, and document "
            "why. Review the containers that set --ulimit."
        ),
        fixes=(
            Fix("docker run", "docker run --ulimit nofile=1024:4096 IMAGE"),
            Fix("compose", "services:\n  db:\n    ulimits:\n      nofile:\n        soft: 1024\n        hard: 4096"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#ulimit",),
    ),
    Recommendation(
        id="5.20",
        section="5",
        title="Ensure mount propagation mode is not set to shared",
        automated=True,
        level=None,
        v180_id="5.20",
        remediation=(
            "With shared propagation, mounts made inside the container show up on the host and the other "
            "way round, so a container can affect the host's mount table. Use the default private "
            "propagation, and never rshared or shared, for bind mounts."
        ),
        fixes=(
            Fix(
                "docker run",
                "docker run --mount type=bind,source=/srv/data,target=/data,bind-propagation=rprivate IMAGE",
            ),
            Fix(
                "compose",
                (
                    "services:\n  app:\n    volumes:\n      - type: bind\n        source: /srv/data\n        "
                    "target: /data\n        bind:\n          propagation: rprivate"
                ),
            ),
        ),
        docs=("https://docs.docker.com/engine/storage/bind-mounts/#configure-bind-propagation",),
    ),
    Recommendation(
        id="5.21",
        section="5",
        title="Ensure that the host's UTS namespace is not shared",
        automated=True,
        level=None,
        v180_id="5.21",
        remediation=(
            "Sharing the host's UTS namespace lets a container change the host's hostname and domain name. "
            "Remove --uts host so each container keeps its own."
        ),
        fixes=(
            Fix("docker run", "docker run --hostname app IMAGE"),
            Fix("compose", "services:\n  app:\n    # remove: uts: host\n    hostname: app"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#uts",),
    ),
    Recommendation(
        id="5.22",
        section="5",
        title="Ensure the default seccomp profile is not Disabled",
        automated=True,
        level=None,
        v180_id="5.22",
        remediation=(
            "seccomp=unconfined removes the filter that blocks dozens of dangerous system calls, widening "
            "the kernel attack surface a container can reach. Keep the default profile, or a custom "
            "profile that allows the extra calls a workload needs, instead of turning filtering off."
        ),
        fixes=(
            Fix("docker run", "docker run --security-opt seccomp=/etc/docker/seccomp/app.json IMAGE"),
            Fix("compose", "services:\n  app:\n    security_opt:\n      - seccomp=/etc/docker/seccomp/app.json"),
        ),
        docs=("https://docs.docker.com/engine/security/seccomp/",),
    ),
    Recommendation(
        id="5.23",
        section="5",
        title="Ensure that docker exec commands are not used with the privileged option",
        automated=True,
        level=None,
        v180_id="5.23",
        remediation=(
            "docker exec --privileged gives the new process every capability and no security confinement, "
            "even in a container that was started restricted. Do not use it; if a task needs a capability, "
            "start the container with that single --cap-add. Check runbooks, scripts and shell history for "
            "past uses."
        ),
        fixes=(Fix("shell", "docker exec -it CONTAINER sh"),),
        docs=("https://docs.docker.com/reference/cli/docker/container/exec/#privileged",),
    ),
    Recommendation(
        id="5.24",
        section="5",
        title="Ensure that docker exec commands are not used with the user=root option",
        automated=False,
        level=None,
        v180_id="5.24",
        remediation=(
            "docker exec --user root runs commands as root inside a container that was built to run as an "
            "unprivileged user, undoing that protection. Exec as the container's own user, and keep root "
            "exec for rare, logged maintenance. Review how operators exec into containers."
        ),
        fixes=(Fix("shell", "docker exec --user 10001 -it CONTAINER sh"),),
        docs=("https://docs.docker.com/reference/cli/docker/container/exec/",),
    ),
    Recommendation(
        id="5.25",
        section="5",
        title="Ensure that cgroup usage is confirmed",
        automated=True,
        level=None,
        v180_id="5.25",
        remediation=(
            "A container started with its own --cgroup-parent escapes the cgroup hierarchy and limits that "
            "apply to the other containers. Leave the cgroup parent at its default unless there is a "
            "reason to change it, and then confirm the parent cgroup carries the limits you expect."
        ),
        fixes=(
            Fix("compose", "services:\n  app:\n    # remove: cgroup_parent: custom.slice\n    image: IMAGE"),
            Fix("shell", "docker inspect --format '{{.Name}} {{.HostConfig.CgroupParent}}' $(docker ps -q)"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#cgroup-parent",),
    ),
    Recommendation(
        id="5.26",
        section="5",
        title="Ensure that the container is restricted from acquiring additional privileges",
        automated=True,
        level=None,
        v180_id="5.26",
        remediation=(
            "Without no-new-privileges, a process in the container can gain privileges through setuid or "
            "setgid binaries or file capabilities. Start containers with no-new-privileges, or set it once "
            "for all containers in daemon.json."
        ),
        fixes=(
            Fix("docker run", "docker run --security-opt no-new-privileges:true IMAGE"),
            Fix("compose", "services:\n  app:\n    security_opt:\n      - no-new-privileges:true"),
            Fix("daemon.json", '{"no-new-privileges": true}'),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#security-opt",),
    ),
    Recommendation(
        id="5.27",
        section="5",
        title="Ensure that container health is checked at runtime",
        automated=True,
        level=None,
        v180_id="5.27",
        remediation=(
            "A container whose image has no health check, or which was started with --no-healthcheck, "
            "shows as running even when its service has stopped answering. Give it a health check at run "
            "time so the engine and your monitoring see when it is unhealthy."
        ),
        fixes=(
            Fix(
                "docker run",
                (
                    "docker run --health-cmd 'wget -q --spider http://127.0.0.1:8080/healthz || exit 1' "
                    "--health-interval 30s IMAGE"
                ),
            ),
            Fix(
                "compose",
                (
                    'services:\n  app:\n    healthcheck:\n      test: ["CMD", "wget", "-q", "--spider", '
                    '"http://127.0.0.1:8080/healthz"]\n      interval: 30s'
                ),
            ),
        ),
        docs=(
            "https://docs.docker.com/engine/containers/run/#healthchecks",
            "https://docs.docker.com/reference/compose-file/services/#healthcheck",
        ),
    ),
    Recommendation(
        id="5.28",
        section="5",
        title="Ensure that Docker commands always make use of the latest version of their image",
        automated=False,
        level=None,
        v180_id="5.28",
        remediation=(
            "A cached image tag may be older than what the registry now serves, so a container can start "
            "from an unpatched image. Pull images before you start containers, or use a pull policy of "
            "always, and pin by digest where you need reproducibility. Review how your deployments refresh "
            "images."
        ),
        fixes=(
            Fix("docker run", "docker run --pull always IMAGE"),
            Fix("compose", "services:\n  app:\n    pull_policy: always"),
            Fix("shell", "docker compose pull && docker compose up -d"),
        ),
        docs=("https://docs.docker.com/reference/cli/docker/container/run/#pull",),
    ),
    Recommendation(
        id="5.29",
        section="5",
        title="Ensure that the PIDs cgroup limit is used",
        automated=True,
        level=None,
        v180_id="5.29",
        remediation=(
            "Without a PIDs limit, a fork bomb or a leaking process in one container can use up the host's "
            "process table and stop everything else from starting processes. Set --pids-limit on every "
            "container to a number that fits its workload."
        ),
        fixes=(
            Fix("docker run", "docker run --pids-limit 200 IMAGE"),
            Fix("compose", "services:\n  app:\n    pids_limit: 200"),
            Fix("shell", "docker update --pids-limit 200 CONTAINER"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/",
            "https://docs.docker.com/engine/containers/resource_constraints/",
        ),
    ),
    Recommendation(
        id="5.30",
        section="5",
        title="Ensure that Docker's default bridge 'docker0' is not used",
        automated=False,
        level=None,
        v180_id="5.30",
        remediation=(
            "All containers started without a --network land on the default bridge docker0, where "
            "unrelated services can reach each other and there is no name resolution between them. Create "
            "user-defined networks per application and attach containers to them. Review which containers "
            "still use the default bridge."
        ),
        fixes=(
            Fix("docker run", "docker network create app-net && docker run --network app-net IMAGE"),
            Fix("compose", "services:\n  app:\n    networks: [app-net]\nnetworks:\n  app-net:\n    driver: bridge"),
        ),
        docs=(
            (
                "https://docs.docker.com/engine/network/drivers/bridge/"
                "#differences-between-user-defined-bridges-and-the-default-bridge"
            ),
        ),
    ),
    Recommendation(
        id="5.31",
        section="5",
        title="Ensure that the host's user namespaces are not shared",
        automated=True,
        level=None,
        v180_id="5.31",
        remediation=(
            "--userns host switches off user namespace remapping for that container, so its root is the "
            "host's root again. Remove the option, and keep host user namespace sharing for the rare "
            "container that cannot work remapped, with a recorded reason."
        ),
        fixes=(
            Fix("docker run", "docker run IMAGE  # without --userns=host"),
            Fix("compose", "services:\n  app:\n    # remove: userns_mode: host\n    image: IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/container/run/#userns",
            "https://docs.docker.com/engine/security/userns-remap/",
        ),
    ),
    Recommendation(
        id="5.32",
        section="5",
        title="Ensure that the Docker socket is not mounted inside any containers",
        automated=True,
        level=None,
        v180_id="5.32",
        remediation=(
            "A container that mounts docker.sock can tell the daemon to start a privileged container with "
            "the host's root mounted, so it is effectively root on the host. Remove the mount. If a tool "
            "really needs the API, give it a proxy that allows only the calls it needs, or run it on the "
            "host."
        ),
        fixes=(
            Fix("docker run", "docker run IMAGE  # without -v /var/run/docker.sock:/var/run/docker.sock"),
            Fix(
                "compose",
                (
                    "services:\n  app:\n    volumes:\n      # remove: /var/run/docker.sock:/var/run/docker.sock\n  "
                    "    - app-data:/data"
                ),
            ),
        ),
        docs=(
            "https://docs.docker.com/engine/security/#docker-daemon-attack-surface",
            "https://docs.docker.com/engine/security/protect-access/",
        ),
    ),
    Recommendation(
        id="6.1",
        section="6",
        title="Ensure that image sprawl is avoided",
        automated=False,
        level=None,
        v180_id="6.1",
        remediation=(
            "Old and unused images take disk space and keep outdated, vulnerable software one `docker run` "
            "away. Remove images no container uses on a schedule, and keep only the tags you deploy. "
            "Review the image list of each host."
        ),
        fixes=(
            Fix("shell", "docker image prune --all --force --filter 'until=720h'"),
            Fix("shell", "docker image ls --format '{{.Repository}}:{{.Tag}} {{.CreatedSince}}'"),
        ),
        docs=(
            "https://docs.docker.com/engine/manage-resources/pruning/",
            "https://docs.docker.com/reference/cli/docker/image/prune/",
        ),
    ),
    Recommendation(
        id="6.2",
        section="6",
        title="Ensure that container sprawl is avoided",
        automated=False,
        level=None,
        v180_id="6.2",
        remediation=(
            "Stopped containers keep their filesystems, logs and configuration, including any secrets, and "
            "make it hard to see what really runs on a host. Remove containers that are no longer needed, "
            "and start one-off containers with --rm. Review the stopped containers on each host."
        ),
        fixes=(
            Fix("shell", "docker container prune --force --filter 'until=24h'"),
            Fix("docker run", "docker run --rm IMAGE"),
        ),
        docs=(
            "https://docs.docker.com/engine/manage-resources/pruning/",
            "https://docs.docker.com/reference/cli/docker/container/prune/",
        ),
    ),
    Recommendation(
        id="7.1",
        section="7",
        title="Ensure that the minimum number of manager nodes have been created in a swarm",
        automated=True,
        level=None,
        v180_id="7.1",
        remediation=(
            "Managers hold the swarm's state and its keys; every extra manager is another place to attack "
            "and more Raft traffic, while too few lose quorum easily. Run the smallest odd number of "
            "managers that gives the fault tolerance you need, usually 3 or 5, and demote the rest to "
            "workers."
        ),
        fixes=(
            Fix("swarm", "docker node demote NODE"),
            Fix("shell", "docker node ls --filter role=manager"),
        ),
        docs=("https://docs.docker.com/engine/swarm/admin_guide/#add-manager-nodes-for-fault-tolerance",),
    ),
    Recommendation(
        id="7.2",
        section="7",
        title="Ensure that swarm services are bound to a specific host interface",
        automated=True,
        level=None,
        v180_id="7.2",
        remediation=(
            "By default the swarm's manager port listens on every interface of the node. Bind the listen "
            "and advertise addresses to the interface of the management network, so the swarm API is not "
            "reachable from other networks."
        ),
        fixes=(
            Fix("swarm", "docker swarm init --listen-addr 10.0.0.10:2377 --advertise-addr 10.0.0.10"),
            Fix(
                "swarm",
                (
                    "docker swarm join --listen-addr 10.0.0.11:2377 --advertise-addr 10.0.0.11 --token TOKEN "
                    "10.0.0.10:2377"
                ),
            ),
        ),
        docs=(
            "https://docs.docker.com/reference/cli/docker/swarm/init/#listen-addr",
            "https://docs.docker.com/reference/cli/docker/swarm/init/#advertise-addr",
        ),
    ),
    Recommendation(
        id="7.3",
        section="7",
        title="Ensure that all Docker swarm overlay networks are encrypted",
        automated=True,
        level=None,
        v180_id="7.3",
        remediation=(
            "Application traffic on overlay networks crosses the network between nodes in clear text "
            "unless the network is created with encryption. Create overlay networks with the encrypted "
            "option (IPsec), and recreate existing ones, which cannot be changed in place. Expect some "
            "throughput cost."
        ),
        fixes=(Fix("swarm", "docker network create --driver overlay --opt encrypted app-net"),),
        docs=(
            "https://docs.docker.com/engine/swarm/networking/#encryption",
            "https://docs.docker.com/engine/network/drivers/overlay/",
        ),
    ),
    Recommendation(
        id="7.4",
        section="7",
        title="Ensure that Docker's secret management commands are used for managing secrets in a swarm cluster",
        automated=False,
        level=None,
        v180_id="7.4",
        remediation=(
            "Secrets passed as environment variables or baked into images show up in inspect output, logs "
            "and image layers. Store them as swarm secrets, which are encrypted in the Raft log and "
            "mounted only into the services that are granted them. Review how each service receives its "
            "credentials."
        ),
        fixes=(
            Fix("swarm", "printf '%s' \"$DB_PASSWORD\" | docker secret create db_password -"),
            Fix("swarm", "docker service create --name app --secret db_password IMAGE"),
            Fix(
                "compose", "services:\n  app:\n    secrets: [db_password]\nsecrets:\n  db_password:\n    external: true"
            ),
        ),
        docs=("https://docs.docker.com/engine/swarm/secrets/",),
    ),
    Recommendation(
        id="7.5",
        section="7",
        title="Ensure that swarm manager is run in auto-lock mode",
        automated=True,
        level=None,
        v180_id="7.5",
        remediation=(
            "The keys that encrypt the Raft log and the TLS keys of a manager sit on its disk, so anyone "
            "who copies the disk gets the swarm's secrets. Enable auto-lock so a restarted manager needs "
            "an unlock key before it can decrypt them, and store that key outside the swarm."
        ),
        fixes=(Fix("swarm", "docker swarm update --autolock=true"),),
        docs=("https://docs.docker.com/engine/swarm/swarm_manager_locking/",),
    ),
    Recommendation(
        id="7.6",
        section="7",
        title="Ensure that the swarm manager auto-lock key is rotated periodically",
        automated=False,
        level=None,
        v180_id="7.6",
        remediation=(
            "An unlock key that never changes stays valid for anyone who ever saw it. Rotate the swarm "
            "unlock key periodically and whenever someone who knew it leaves, keeping the old key until "
            "every manager has the new one. Review your rotation schedule."
        ),
        fixes=(Fix("swarm", "docker swarm unlock-key --rotate"),),
        docs=("https://docs.docker.com/engine/swarm/swarm_manager_locking/#rotate-the-unlock-key",),
    ),
    Recommendation(
        id="7.7",
        section="7",
        title="Ensure that node certificates are rotated as appropriate",
        automated=False,
        level=None,
        v180_id="7.7",
        remediation=(
            "Node certificates prove a node's identity inside the swarm; a stolen one stays useful until "
            "it expires. Set a certificate expiry that matches your policy (the default is 90 days) so "
            "nodes renew their certificates regularly. Review the configured expiry."
        ),
        fixes=(
            Fix("swarm", "docker swarm update --cert-expiry 720h"),
            Fix("shell", "docker info --format '{{.Swarm.Cluster.Spec.CAConfig.NodeCertExpiry}}'"),
        ),
        docs=(
            "https://docs.docker.com/engine/swarm/how-swarm-mode-works/pki/",
            "https://docs.docker.com/reference/cli/docker/swarm/update/",
        ),
    ),
    Recommendation(
        id="7.8",
        section="7",
        title="Ensure that CA certificates are rotated as appropriate",
        automated=False,
        level=None,
        v180_id="7.8",
        remediation=(
            "The swarm's root CA signs every node certificate, so a leaked CA key lets an attacker create "
            "trusted nodes. Rotate the CA on a schedule and at once after a suspected compromise; rotation "
            "re-issues every node certificate and changes the join tokens. Review when the CA was last "
            "rotated."
        ),
        fixes=(Fix("swarm", "docker swarm ca --rotate"),),
        docs=(
            "https://docs.docker.com/engine/swarm/how-swarm-mode-works/pki/#rotating-the-ca-certificate",
            "https://docs.docker.com/reference/cli/docker/swarm/ca/#rotate",
        ),
    ),
    Recommendation(
        id="7.9",
        section="7",
        title="Ensure that management plane traffic is separated from data plane traffic",
        automated=False,
        level=None,
        v180_id="7.9",
        remediation=(
            "When management and application traffic share one interface, a flood of application traffic "
            "can starve the swarm's control plane, and both are exposed on the same network. Put "
            "control-plane traffic on a management interface and container traffic on a separate data-path "
            "address. Review the addresses each node uses."
        ),
        fixes=(Fix("swarm", "docker swarm init --advertise-addr 10.0.0.10 --data-path-addr 192.168.100.10"),),
        docs=("https://docs.docker.com/reference/cli/docker/swarm/init/#data-path-addr",),
    ),
)

BY_ID: dict[str, Recommendation] = {r.id: r for r in RECOMMENDATIONS}


# -- beyond the benchmark ----------------------------------------------------------

EXTRA_SECTIONS: dict[str, str] = {"S": "Secrets (beyond CIS)"}

_SECRETS_DOCS = (
    "https://docs.docker.com/engine/swarm/secrets/",
    "https://docs.docker.com/compose/how-tos/use-secrets/",
    "https://docs.docker.com/build/building/secrets/",
)

EXTRA_RECOMMENDATIONS: tuple[Recommendation, ...] = (
    Recommendation(
        id="S.1",
        section="S",
        title="Ensure secrets are not passed to containers as environment variables",
        automated=True,
        level=None,
        v180_id="",
        remediation=(
            "A container's environment is part of its configuration: anyone who may run docker inspect "
            "reads it, it is copied into every process the container starts, into crash reports and "
            "often into logs. Give a password, token or key to the container as a file instead: a Docker "
            "or compose secret, mounted under /run/secrets, and point the application at it (many images "
            "read NAME_FILE). Moving the values to an --env-file does not help, they still end up in the "
            "environment. Rotate a secret that was exposed."
        ),
        fixes=(
            Fix("shell", "printf '%s' \"$DB_PASSWORD\" | docker secret create db_password -"),
            Fix(
                "swarm",
                "docker service create --secret db_password -e DB_PASSWORD_FILE=/run/secrets/db_password app",
            ),
            Fix(
                "compose",
                "services: {app: {secrets: [db_password], environment: {DB_PASSWORD_FILE: /run/secrets/db_password}}}"
                ", secrets: {db_password: {file: ./db_password.txt}}",
            ),
            Fix(
                "docker run",
                "--mount type=bind,src=/srv/secrets/db_password,dst=/run/secrets/db_password,readonly "
                "-e DB_PASSWORD_FILE=/run/secrets/db_password",
            ),
        ),
        docs=_SECRETS_DOCS,
        benchmark="dockerbench",
    ),
    Recommendation(
        id="S.2",
        section="S",
        title="Ensure image history holds no secrets",
        automated=True,
        level=None,
        v180_id="",
        remediation=(
            "Every ENV and ARG instruction, and every build argument a RUN step sees, is recorded in the "
            "image with its value: docker history shows it to anyone who can pull the image, long after "
            "the build. Never give a secret to a build with ENV, ARG or --build-arg, nor write it on a RUN "
            "command line; mount it for the one step that needs it with BuildKit's RUN --mount=type=secret, "
            "and give it to the running container as a file. Rebuild the image without the secret, remove "
            "the old image from every registry, and rotate the secret."
        ),
        fixes=(
            Fix("Dockerfile", "RUN --mount=type=secret,id=npm_token NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci"),
            Fix("shell", "docker build --secret id=npm_token,src=$HOME/.npm_token -t app ."),
            Fix(
                "compose",
                "services: {app: {build: {context: ., secrets: [npm_token]}}}, secrets: {npm_token: "
                "{file: ./npm_token.txt}}",
            ),
        ),
        docs=_SECRETS_DOCS,
        benchmark="dockerbench",
    ),
)

ALL_BY_ID: dict[str, Recommendation] = {r.id: r for r in (*RECOMMENDATIONS, *EXTRA_RECOMMENDATIONS)}
# The CIS sections, then ours: what pages, reports and filters list (the score and heat map count SECTIONS).
ALL_SECTIONS: dict[str, str] = {**SECTIONS, **EXTRA_SECTIONS}


def section_of(check_id: str) -> str:
    return check_id.split(".", 1)[0]
