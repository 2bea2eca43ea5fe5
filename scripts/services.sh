#!/usr/bin/env bash
# Installs and starts what the test suite needs on Debian 12, as root. Idempotent: safe to run again.
#
#   scripts/services.sh    (as root)
#
# - apt packages, installed only when missing;
# - a dockerd on unix:///var/run/docker.sock, started in the background when nothing answers there
#   (these machines have no systemd); its log goes to var/log/dockerd.log;
# - the test image dockerbench/busybox:test, imported from busybox-static when absent (no registry needed);
# - Redis on 127.0.0.1:6379 (no persistence: test data only), daemonized, log in var/log/redis.log;
# - PostgreSQL 15 on 127.0.0.1:5432 (Debian's cluster 15/main, run by pg_ctlcluster as postgres), with a role
#   `dockerbench` (password $DOCKERBENCH_PG_PASSWORD, CREATEDB so pytest-django can create its test database) and
#   a database `dockerbench`;
# - a check that Chromium is at /usr/bin/chromium (Playwright launches it itself, per test session).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$ROOT/var/log"
DOCKER_SOCK=/var/run/docker.sock
DOCKER_URL="unix://$DOCKER_SOCK"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"
TEST_IMAGE=dockerbench/busybox:test
REDIS_PORT=6379
PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
# A local, loopback-only role for the tests and benchmarks; the Makefile builds DATABASE_URL from the same default.
PG_PASSWORD="${DOCKERBENCH_PG_PASSWORD:-dockerbench-local-only}"
SERVICE_TIMEOUT="${SERVICE_TIMEOUT:-30}"
CHROMIUM=/usr/bin/chromium

PACKAGES=(
    docker.io busybox-static openssh-server iproute2 openssl
    redis-server postgresql chromium poppler-utils docker-compose nginx shellcheck
    # WeasyPrint (PDF reports) loads Pango and HarfBuzz at run time, and needs one font at least.
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'services.sh: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts dockerd, Redis and PostgreSQL)"
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

redis_answers() {
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

start_redis() {
    if redis_answers; then
        say "redis: already answering on 127.0.0.1:$REDIS_PORT"
        return
    fi
    local log="$LOG_DIR/redis.log"
    say "redis: starting on 127.0.0.1:$REDIS_PORT (log: $log)"
    # No RDB snapshots, no AOF: the tests' data is throwaway, and a save must never block or fill the disk.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
        --dir "$ROOT/var" --logfile "$log" --pidfile "$ROOT/var/redis.pid" ||
        {
            tail -n 30 "$log" >&2 || true
            die "redis-server failed to start; see $log"
        }
    local waited=0
    until redis_answers; do
        if [ "$waited" -ge "$SERVICE_TIMEOUT" ]; then
            tail -n 30 "$log" >&2 || true
            die "redis did not answer PING on 127.0.0.1:$REDIS_PORT within ${SERVICE_TIMEOUT}s; see $log"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "redis: up after ${waited}s"
}

pg_answers() {
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 5
}

# As the postgres superuser over the local socket (peer authentication): only root reaches this.
pg_sql() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"
}

start_postgresql() {
    local log="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
    if pg_answers; then
        say "postgresql: already answering on 127.0.0.1:$PG_PORT"
    else
        if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; then
            say "postgresql: creating cluster $PG_VERSION/$PG_CLUSTER"
            pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null ||
                die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
        fi
        say "postgresql: starting cluster $PG_VERSION/$PG_CLUSTER on 127.0.0.1:$PG_PORT (log: $log)"
        # Without systemd, pg_ctlcluster runs pg_ctl as the cluster's owner (postgres) and waits for startup.
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start -- -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT" ||
            {
                tail -n 30 "$log" >&2 || true
                die "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed; see $log"
            }
        local waited=0
        until pg_answers; do
            if [ "$waited" -ge "$SERVICE_TIMEOUT" ]; then
                tail -n 30 "$log" >&2 || true
                die "postgresql did not answer on 127.0.0.1:$PG_PORT within ${SERVICE_TIMEOUT}s; see $log"
            fi
            sleep 1
            waited=$((waited + 1))
        done
        say "postgresql: up after ${waited}s"
    fi
    # Idempotent: create the role and database when missing, and keep the password in step with PG_PASSWORD.
    pg_sql -v pw="$PG_PASSWORD" <<'SQL' || die "could not create the dockerbench role in PostgreSQL"
SELECT 'CREATE ROLE dockerbench LOGIN CREATEDB'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dockerbench') \gexec
ALTER ROLE dockerbench LOGIN CREATEDB PASSWORD :'pw';
SQL
    pg_sql <<'SQL' || die "could not create the dockerbench database in PostgreSQL"
SELECT 'CREATE DATABASE dockerbench OWNER dockerbench'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'dockerbench') \gexec
SQL
    PGPASSWORD="$PG_PASSWORD" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U dockerbench -d dockerbench -c 'SELECT 1' \
        >/dev/null || die "the dockerbench role cannot log in over 127.0.0.1:$PG_PORT with its password"
    say "postgresql: role and database dockerbench ready"
    drop_stale_test_databases
}

# Each pytest process makes test_dockerbench_pid<N> (root conftest.py) and drops it at the end; a killed run leaves
# its database behind. Drop those whose process is gone, never one a running pytest is still using.
drop_stale_test_databases() {
    local name pid
    for name in $(pg_sql -At -c "SELECT datname FROM pg_database WHERE datname ~ '^test_dockerbench_pid[0-9]+$'"); do
        pid="${name##*_pid}"
        kill -0 "$pid" 2>/dev/null && continue
        if pg_sql -c "DROP DATABASE IF EXISTS \"$name\"" 2>/dev/null; then
            say "postgresql: dropped $name, left behind by pytest process $pid (gone)"
        fi
    done
}

check_chromium() {
    # Nothing to start: the browser tests launch it through Playwright. Say here, once, if it is missing.
    [ -x "$CHROMIUM" ] || die "$CHROMIUM is missing (apt-get install chromium)"
    say "chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
}

install_packages
start_dockerd
build_test_image
start_redis
start_postgresql
check_chromium
say "services ready: DOCKER_HOST=$DOCKER_URL, test image $TEST_IMAGE, redis 127.0.0.1:$REDIS_PORT," \
    "postgresql 127.0.0.1:$PG_PORT"
