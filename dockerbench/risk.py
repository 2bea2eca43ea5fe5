"""How much each check's finding matters: a weight per check, and the rank that orders what to fix first.

The scale, the reason for each band and the ranking are explained in docs/risk.md. A weight rates the risk
of the thing a check finds (a privileged container, a world-writable socket), not how sure the check is:
a manual recommendation, which only ever asks for a review, sits in the lowest bands.
"""

from __future__ import annotations

# A check with no weight here (a check added without one, an id from a newer catalog) ranks in the middle:
# neither hidden under the hygiene findings nor above the ways to get root.
DEFAULT_WEIGHT = 5

# The age factor grows by one for every AGE_STEP_DAYS a finding has been open, up to AGE_CAP_DAYS.
AGE_STEP_DAYS = 30
AGE_CAP_DAYS = 90

WEIGHTS: dict[str, int] = {
    # 10: a container, or anyone who can reach the daemon over the network, is root on the host at once.
    "2.7": 10,  # the daemon listens on TCP without TLS client verification
    "5.5": 10,  # privileged containers
    "5.6": 10,  # sensitive host directories (/, /etc, /proc, ...) mounted
    "5.32": 10,  # the Docker socket mounted in a container
    # 9: an isolation layer between a container and the host is gone; one kernel or runtime bug from root.
    "5.2": 9,  # no AppArmor profile
    "5.3": 9,  # no SELinux options
    "5.4": 9,  # capabilities added beyond Docker's default set
    "5.10": 9,  # the host's network namespace shared
    "5.16": 9,  # the host's PID namespace shared
    "5.17": 9,  # the host's IPC namespace shared
    "5.21": 9,  # the host's UTS namespace shared
    "5.22": 9,  # seccomp unconfined
    "5.26": 9,  # no-new-privileges not set on the container
    "5.31": 9,  # the host's user namespace shared
    # 8: whoever can reach these is root through the daemon: local users, exec sessions.
    "1.1.2": 8,  # members of the docker group
    "3.15": 8,  # Docker socket ownership
    "3.16": 8,  # Docker socket permissions
    "3.23": 8,  # containerd socket ownership
    "3.24": 8,  # containerd socket permissions
    "5.23": 8,  # docker exec --privileged
    # 7: container root becomes host root by default, or secrets and images reach the wrong hands.
    "2.5": 7,  # insecure registries: images can be swapped in transit
    "2.9": 7,  # no user namespace remapping: root in a container is root on the host
    "2.14": 7,  # no-new-privileges not the daemon-wide default
    "5.20": 7,  # shared mount propagation: mounts made in a container reach the host
    "S.1": 7,  # secrets in a container's environment: readable by anyone who can inspect it
    "S.2": 7,  # secrets in image history: readable by anyone who can pull the image
    # 6: a local user who can write these rewrites the daemon's flags or its TLS trust, and so gets root.
    "3.1": 6,  # docker.service ownership
    "3.2": 6,  # docker.service permissions
    "3.3": 6,  # docker.socket unit ownership
    "3.4": 6,  # docker.socket unit permissions
    "3.5": 6,  # /etc/docker ownership
    "3.6": 6,  # /etc/docker permissions
    "3.9": 6,  # TLS CA certificate ownership
    "3.10": 6,  # TLS CA certificate permissions
    "3.13": 6,  # server key ownership
    "3.14": 6,  # server key permissions
    "3.17": 6,  # daemon.json ownership
    "3.18": 6,  # daemon.json permissions
    "3.19": 6,  # /etc/default/docker ownership
    "3.20": 6,  # /etc/default/docker permissions
    "3.21": 6,  # /etc/sysconfig/docker permissions
    "3.22": 6,  # /etc/sysconfig/docker ownership
    # 6: root inside the container, or host devices in it: the next escape bug is host root.
    "4.1": 6,  # containers run as root
    # A critical vulnerability with a fix, in an image a host runs (4.4 warns only for these, from scanners'
    # reports): a known way into the container, closed by a rebuild. Without reports 4.4 is a NOTE.
    "4.4": 6,
    "5.18": 6,  # host devices exposed (manual, but /dev/sda or /dev/mem in a container is the host)
    # 5: exposure and lateral movement: traffic, images and swarm state an attacker on the network can use.
    "2.2": 5,  # inter-container traffic on the default bridge
    "2.12": 5,  # no authorization plugin
    "3.7": 5,  # registry certificate ownership
    "3.8": 5,  # registry certificate permissions
    "4.5": 5,  # content trust off
    "5.14": 5,  # published ports bound to every interface
    "7.2": 5,  # swarm management port on every interface
    "7.3": 5,  # unencrypted overlay networks
    "7.5": 5,  # swarm managers not auto-locked
    # 4: containment: limits and hardening that stop a compromised container spreading or taking the host down.
    "1.1.1": 4,  # no separate partition for the data root
    "2.4": 4,  # Docker not allowed to manage iptables
    "3.11": 4,  # server certificate ownership
    "3.12": 4,  # server certificate permissions
    "5.7": 4,  # sshd in containers
    "5.11": 4,  # no memory limit
    "5.13": 4,  # writable root filesystem
    "5.25": 4,  # non-default cgroup parent
    "5.29": 4,  # no PIDs limit
    # 3: detection: the audit trail and the logs an investigation needs.
    "1.1.3": 3,
    "1.1.4": 3,
    "1.1.5": 3,
    "1.1.6": 3,
    "1.1.7": 3,
    "1.1.8": 3,
    "1.1.9": 3,
    "1.1.10": 3,
    "1.1.11": 3,
    "1.1.12": 3,
    "1.1.13": 3,
    "1.1.14": 3,
    "1.1.15": 3,
    "1.1.16": 3,
    "1.1.17": 3,
    "1.1.18": 3,
    "2.3": 3,  # log level
    "2.13": 3,  # centralized remote logging
    # 3: small attack-surface reductions in the daemon and the runtime.
    "2.6": 3,  # aufs storage driver
    "2.10": 3,  # default cgroup usage
    "2.16": 3,  # userland proxy
    "2.18": 3,  # experimental features
    "5.1": 3,  # swarm mode enabled when not needed
    "5.8": 3,  # privileged ports mapped
    "5.12": 3,  # no CPU shares
    # 2: availability hygiene: health, restarts, recovery.
    "2.11": 2,  # base device size changed
    "2.15": 2,  # live restore
    "4.6": 2,  # no HEALTHCHECK in images
    "5.15": 2,  # on-failure restart policy
    "5.27": 2,  # container health not checked
    "7.1": 2,  # number of swarm managers
    # 2: manual reviews that bear directly on exposure.
    "1.2.1": 2,  # host hardened
    "1.2.2": 2,  # Docker up to date
    "2.1": 2,  # daemon as non-root (rootless)
    "2.17": 2,  # daemon-wide custom seccomp profile
    "4.2": 2,  # trusted base images
    "4.10": 2,  # secrets in Dockerfiles
    "5.9": 2,  # only needed ports open
    "5.24": 2,  # docker exec --user=root
    "7.4": 2,  # swarm secret management
    # 1: manual housekeeping, informational.
    "2.8": 1,  # default ulimit
    "4.3": 1,  # unnecessary packages
    "4.7": 1,  # update instructions alone
    "4.8": 1,  # setuid and setgid bits
    "4.9": 1,  # COPY instead of ADD
    "4.11": 1,  # verified packages
    "4.12": 1,  # signed artifacts validated
    "5.19": 1,  # ulimit overridden at runtime
    "5.28": 1,  # latest image version
    "5.30": 1,  # default bridge docker0 used
    "6.1": 1,  # image sprawl
    "6.2": 1,  # container sprawl
    "7.6": 1,  # auto-lock key rotated
    "7.7": 1,  # node certificates rotated
    "7.8": 1,  # CA certificates rotated
    "7.9": 1,  # management and data plane traffic separated
}


def weight(check_id: str) -> int:
    """The weight (1..10) of a check's findings; DEFAULT_WEIGHT for an id with none."""
    return WEIGHTS.get(check_id, DEFAULT_WEIGHT)


def rank(weight: int, objects: int, age_days: float) -> float:
    """What to fix first: higher ranks first.

    rank = weight × objects × (1 + min(age_days, 90) / 30), where ``objects`` counts the offending objects
    (1 for a verdict on the host as a whole) and ``age_days`` is how long the finding has been open. Age
    below zero (a clock ahead of the scan) counts as zero; from 90 days on the factor stays at 4, so age
    multiplies a rank by at most four: a weight-2 finding open for months (2 × 4 = 8) still ranks under a
    weight-9 one found today (9). Non-decreasing in each argument.
    """
    age = min(max(age_days, 0.0), float(AGE_CAP_DAYS))
    return weight * objects * (1 + age / AGE_STEP_DAYS)
