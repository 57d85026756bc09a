#!/usr/bin/env bash
# Makes sure PostgreSQL and MariaDB run and accept connections on 127.0.0.1, as the
# tests expect them. Idempotent: when both already answer, it does nothing.
#
#   scripts/start-services.sh
#
# - Installs them from Debian (postgresql, mariadb-server and clients) when absent.
# - Starts a server that is installed but stopped (through systemd when it runs,
#   else directly: pg_ctlcluster / start-stop-daemon), then waits, bounded, until it
#   answers (pg_isready, mariadb-admin ping).
# - PostgreSQL: lets the `postgres` superuser in over loopback without a password,
#   the access this machine's tests are written against (Debian's default asks for
#   one); a marked rule placed first in pg_hba.conf, for that user only, so the test
#   role of scripts/setup-databases.sh still needs its password.
#
# Environment: PROBES_PG_PORT (5432), PROBES_MARIADB_PORT (3306).
set -euo pipefail

PG_PORT="${PROBES_PG_PORT:-5432}"
MARIADB_PORT="${PROBES_MARIADB_PORT:-3306}"
READY_TRIES=120   # half-second steps: up to a minute per server
HBA_MARKER="# probes: postgres superuser over loopback without password (scripts/start-services.sh)"

APT=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
SUDO=()
if [[ $EUID -ne 0 ]]; then
    SUDO=(sudo --non-interactive)
fi

log() { echo "start-services: $*"; }

with_systemd() { [[ -d /run/systemd/system ]]; }

wait_for() {
    local what=$1; shift
    local try
    for ((try = 0; try < READY_TRIES; try++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "start-services: $what did not accept connections within $((READY_TRIES / 2))s" >&2
    return 1
}

ensure_installed() {
    local missing=() installed package
    installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null \
        | awk '$2 == "ii" { print $1 }' || true)"
    for package in "$@"; do
        grep -qxF "$package" <<<"$installed" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" "${APT[@]}" update -qq >/dev/null
    "${SUDO[@]}" "${APT[@]}" install -y -q "${missing[@]}" >/dev/null
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }

start_postgresql() {
    pg_ready && return 0
    local version
    version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
    if ! pg_lsclusters --no-header 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"' \
            | grep -q .; then
        log "creating the PostgreSQL $version cluster 'main'"
        "${SUDO[@]}" pg_createcluster --port "$PG_PORT" "$version" main >/dev/null
    fi
    log "starting PostgreSQL $version"
    if with_systemd; then
        "${SUDO[@]}" systemctl start "postgresql@$version-main"
    else
        # A cluster that is already starting makes this fail: waiting settles it.
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    wait_for PostgreSQL pg_ready
}

postgres_over_loopback() {
    psql -X -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
}

allow_postgres_over_loopback() {
    postgres_over_loopback && return 0
    local hba
    hba="$("${SUDO[@]}" runuser -u postgres -- psql -X -p "$PG_PORT" -tAc 'show hba_file')"
    if ! "${SUDO[@]}" grep -qF "$HBA_MARKER" "$hba"; then
        log "letting postgres in over loopback without a password ($hba)"
        local tmp="$hba.probes-tmp"
        # First match wins in pg_hba.conf, so the rules go before Debian's password rules.
        # shellcheck disable=SC2016  # the inner shell expands its own arguments
        "${SUDO[@]}" bash -c '
            { printf "%s\n%s\n%s\n\n" "$1" \
                "host    all    postgres    127.0.0.1/32    trust" \
                "host    all    postgres    ::1/128         trust"
              cat "$2"; } >"$3"
            chown --reference="$2" "$3"
            chmod --reference="$2" "$3"
            mv "$3" "$2"' _ "$HBA_MARKER" "$hba" "$tmp"
    fi
    "${SUDO[@]}" runuser -u postgres -- psql -X -p "$PG_PORT" -tAc 'select pg_reload_conf()' >/dev/null
    wait_for "PostgreSQL (postgres over loopback)" postgres_over_loopback
}

# `ping` answers 0 from a running server even when it refuses the login.
mariadb_ready() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -uroot ping; }

start_mariadb() {
    mariadb_ready >/dev/null 2>&1 && return 0
    log "starting MariaDB"
    if with_systemd; then
        "${SUDO[@]}" systemctl start mariadb
    else
        "${SUDO[@]}" install -d -o mysql -g mysql /run/mysqld
        "${SUDO[@]}" start-stop-daemon --start --oknodo --background \
            --exec /usr/sbin/mariadbd -- --user=mysql
    fi
    wait_for MariaDB mariadb_ready
}

ensure_installed postgresql postgresql-client mariadb-server mariadb-client
start_postgresql
allow_postgres_over_loopback
start_mariadb
