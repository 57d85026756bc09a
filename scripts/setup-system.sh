#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those that are missing, and makes
# sure unixODBC knows the PostgreSQL, MariaDB and FreeTDS drivers. Idempotent.
#
#   scripts/setup-system.sh
#
# What for: Python's venv (the project's .venv), unixODBC and its drivers (odbc
# checks), Chromium (the HTML report is tested in a real headless browser), OpenSSH
# (the sftp tests start their own sshd), podman/buildah/debootstrap/runc (the
# container image is built and run), PostgreSQL and MariaDB with their clients.
# When everything is present this makes no apt call at all and takes well under a
# second. Run as root, or as a user who may use sudo.
set -euo pipefail

PACKAGES=(
    python3 python3-venv
    unixodbc odbcinst odbc-postgresql odbc-mariadb tdsodbc
    chromium
    openssh-server openssh-client
    podman buildah debootstrap runc uidmap
    postgresql postgresql-client mariadb-server mariadb-client
    ca-certificates passwd procps
)

# Driver name -> the definition its Debian package ships (registered when missing).
declare -A ODBC_DRIVERS=(
    ["PostgreSQL ANSI"]=/usr/share/psqlodbc/odbcinst.ini.template
    ["PostgreSQL Unicode"]=/usr/share/psqlodbc/odbcinst.ini.template
    ["MariaDB Unicode"]=/usr/share/odbc-mariadb/odbcinst.ini.template
    ["FreeTDS"]=/usr/share/tdsodbc/odbcinst.ini
)

APT=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
if [[ $EUID -ne 0 ]]; then
    APT=(sudo --non-interactive "${APT[@]}")
fi

log() { echo "setup-system: $*"; }

missing_packages() {
    # One dpkg-query for the lot. It exits non-zero when it never heard of a package
    # (not even in its database): that package is simply not in the "ii" list.
    local installed package
    installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null \
        | awk '$2 == "ii" { print $1 }' || true)"
    for package in "${PACKAGES[@]}"; do
        grep -qxF "$package" <<<"$installed" || echo "$package"
    done
}

apt_install() {
    local output
    output="$(mktemp)"
    # apt's progress goes to a file: CI logs get the outcome, and the details on failure.
    if ! DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -q "$@" >"$output" 2>&1; then
        tail -n 40 "$output" >&2
        rm -f "$output"
        return 1
    fi
    rm -f "$output"
}

install_missing() {
    local missing
    # Not `mapfile < <(...)`: a failure inside a process substitution would go unnoticed.
    missing="$(missing_packages)"
    [[ -n "$missing" ]] || return 0
    mapfile -t missing <<<"$missing"
    log "installing ${missing[*]}"
    local started=$SECONDS
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" update -qq >/dev/null
    apt_install "${missing[@]}"
    log "installed in $((SECONDS - started))s"
}

register_odbc_drivers() {
    local registered name
    registered="$(odbcinst -q -d 2>/dev/null || true)"
    for name in "${!ODBC_DRIVERS[@]}"; do
        grep -qxF "[$name]" <<<"$registered" && continue
        log "registering the ODBC driver '$name'"
        # The template may hold several drivers: pick this one's section only, so a
        # driver that is already known does not get its usage count raised.
        awk -v section="[$name]" '
            /^\[/ { keep = ($0 == section) }
            keep' "${ODBC_DRIVERS[$name]}" >"/tmp/odbcinst-$$.ini"
        odbcinst -i -d -f "/tmp/odbcinst-$$.ini" >/dev/null
        rm -f "/tmp/odbcinst-$$.ini"
    done
    registered="$(odbcinst -q -d)"
    for name in "${!ODBC_DRIVERS[@]}"; do
        grep -qxF "[$name]" <<<"$registered" || {
            echo "setup-system: unixODBC does not list the driver '$name' (odbcinst -q -d)" >&2
            return 1
        }
    done
}

install_missing
register_odbc_drivers
