#!/usr/bin/env bash
# Installs and starts what the test suite needs on Debian 12, as root. Idempotent: safe to run again.
#
#   sudo scripts/services.sh
#
# - apt packages, installed only when missing;
# - a dockerd on unix:///var/run/docker.sock, started in the background when nothing answers there
#   (these machines have no systemd); its log goes to var/log/dockerd.log;
# - the test image dockerbench/busybox:test, imported from busybox-static when absent (no registry needed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$ROOT/var/log"
DOCKER_SOCK=/var/run/docker.sock
DOCKER_URL="unix://$DOCKER_SOCK"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"
TEST_IMAGE=dockerbench/busybox:test

PACKAGES=(
    docker.io busybox-static openssh-server iproute2 openssl
    redis-server postgresql chromium poppler-utils docker-compose
)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'services.sh: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts dockerd): sudo $0"
mkdir -p "$LOG_DIR"

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages: all present"
        return
    fi
    say "apt packages: installing ${missing[*]}"
    # Keep the packages' init scripts from starting services at install time: we start what we need below.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    local status=0
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } || status=$?
    [ "$own_policy" -eq 0 ] || rm -f "$policy"
    [ "$status" -eq 0 ] || die "apt-get install failed (exit $status) for: ${missing[*]}"
}

docker_answers() {
    timeout 10 docker -H "$DOCKER_URL" version >/dev/null 2>&1
}

start_dockerd() {
    if docker_answers; then
        say "dockerd: already answering on $DOCKER_URL"
        return
    fi
    say "dockerd: starting on $DOCKER_URL (log: $LOG_DIR/dockerd.log)"
    # setsid + nohup: dockerd outlives this script and the make that called it.
    setsid nohup dockerd --host "$DOCKER_URL" >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
    local pid=$! waited=0
    until docker_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$LOG_DIR/dockerd.log" >&2 || true
            die "dockerd exited during startup; see $LOG_DIR/dockerd.log"
        fi
        if [ "$waited" -ge "$DOCKERD_TIMEOUT" ]; then
            tail -n 30 "$LOG_DIR/dockerd.log" >&2 || true
            die "dockerd (pid $pid) did not answer on $DOCKER_URL within ${DOCKERD_TIMEOUT}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "dockerd: up after ${waited}s (pid $pid)"
}

build_test_image() {
    if docker -H "$DOCKER_URL" image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
        say "test image: $TEST_IMAGE present"
        return
    fi
    say "test image: building $TEST_IMAGE from busybox-static"
    local work applet
    work="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand $work now
    trap "rm -rf '$work'" RETURN
    mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/root"
    chmod 1777 "$work/rootfs/tmp"
    cp /bin/busybox "$work/rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$work/rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
    tar -C "$work/rootfs" -c . | docker -H "$DOCKER_URL" import --change 'ENV PATH=/bin' - "$TEST_IMAGE" >/dev/null
    docker -H "$DOCKER_URL" run --rm "$TEST_IMAGE" /bin/true || die "$TEST_IMAGE was imported but does not run"
    say "test image: $TEST_IMAGE built"
}

start_other_services() {
    # ---------------------------------------------------------------------------------------------
    # Redis, PostgreSQL and Chromium are installed above but not started yet: the dashboard's tests
    # (issue 3: Celery on Redis, PostgreSQL, browser tests) start them here, each idempotently
    # (check that it answers, start it in the background with its log under $LOG_DIR, wait, fail loudly).
    # ---------------------------------------------------------------------------------------------
    :
}

install_packages
start_dockerd
build_test_image
start_other_services
say "services ready: DOCKER_HOST=$DOCKER_URL, test image $TEST_IMAGE"
