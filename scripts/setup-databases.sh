#!/usr/bin/env bash
# Prepare the machine's PostgreSQL and MariaDB for the database tests (idempotent).
#
#   scripts/setup-databases.sh
#
# On each server: a role with a password, a database, and tables the tests read —
# fresh_loads (loaded now; refreshed on every run), stale_loads (3 days old),
# numbers (for thresholds), guarded (read-only checks must leave it intact),
# scratch (checks with read_only: false write to it) and forbidden (no grant).
# PostgreSQL gets a pg_hba.conf rule, placed first, that makes the test role log
# in with its password on 127.0.0.1 and ::1, so a wrong password really fails.
# The connection facts are repeated in tests/helpers/databases.py: keep both in step.
#
# Run as root (it uses runuser to become postgres) or as a user that may run
# `psql -U postgres` and `mysql -u root`. Starts a server that is installed but stopped.
set -euo pipefail

ROLE=probes_test
DATABASE=probes_test
PASSWORD=probes-test-pw-4c1e   # a test fixture, not a secret: the role can only reach test data
PG_PORT="${PROBES_PG_PORT:-5432}"
MARIADB_PORT="${PROBES_MARIADB_PORT:-3306}"
HBA_MARKER="# probes test role: password required (scripts/setup-databases.sh)"
READY_TRIES=60   # half-second steps

log() { echo "setup-databases: $*"; }

pg() {
    export PGOPTIONS='-c client_min_messages=warning'
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"
    else
        psql -X -v ON_ERROR_STOP=1 -U postgres -p "$PG_PORT" "$@"
    fi
}

maria() {
    mysql --protocol=socket -uroot "$@" 2>/dev/null || mysql -h127.0.0.1 -P"$MARIADB_PORT" -uroot "$@"
}

wait_until() {
    local what=$1; shift
    for _ in $(seq "$READY_TRIES"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "setup-databases: $what did not become ready within $((READY_TRIES / 2))s" >&2
    return 1
}

start_postgresql() {
    pg -tAc 'select 1' >/dev/null 2>&1 && return 0
    log "starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null; then
        pg_lsclusters --no-header | while read -r version cluster _; do
            pg_ctlcluster "$version" "$cluster" start || true
        done
    else
        service postgresql start
    fi
    wait_until PostgreSQL pg -tAc 'select 1'
}

start_mariadb() {
    maria -e 'select 1' >/dev/null 2>&1 && return 0
    log "starting MariaDB"
    service mariadb start >/dev/null 2>&1 || service mysql start
    wait_until MariaDB maria -e 'select 1'
}

setup_postgresql() {
    pg -q <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$ROLE') then
    create role $ROLE login;
  end if;
end \$\$;
alter role $ROLE with login password '$PASSWORD';
select 'create database $DATABASE owner postgres'
  where not exists (select from pg_database where datname = '$DATABASE') \gexec
grant connect on database $DATABASE to $ROLE;
SQL
    pg -q -d "$DATABASE" <<SQL
create table if not exists fresh_loads (id int primary key, loaded_at timestamptz not null,
                                        loaded_at_utc timestamp not null);
create table if not exists stale_loads (id int primary key, loaded_at timestamptz not null,
                                        loaded_at_utc timestamp not null);
create table if not exists numbers (name text primary key, n bigint not null);
create table if not exists guarded (id int primary key, label text not null);
create table if not exists scratch (id serial primary key, note text not null);
create table if not exists forbidden (id int primary key);
begin;
delete from fresh_loads;
insert into fresh_loads values (1, now(), now() at time zone 'utc');
delete from stale_loads;
insert into stale_loads values
  (1, now() - interval '3 days', (now() - interval '3 days') at time zone 'utc');
delete from numbers;
insert into numbers values ('orders', 1500), ('refunds', 12);
delete from guarded;
insert into guarded values (1, 'one'), (2, 'two'), (3, 'three');
delete from scratch;
commit;
grant usage on schema public to $ROLE;
grant select, insert, update, delete on fresh_loads, stale_loads, numbers, guarded, scratch
  to $ROLE;
grant truncate on guarded to $ROLE;   -- so that only read-only mode stops a truncate
grant usage on sequence scratch_id_seq to $ROLE;
revoke all on forbidden from $ROLE;
SQL
    require_password_in_hba
}

require_password_in_hba() {
    local hba
    hba="$(pg -tAc 'show hba_file')"
    if grep -qF "$HBA_MARKER" "$hba"; then
        return 0
    fi
    log "requiring a password for $ROLE in $hba"
    local rules
    rules="$HBA_MARKER
host    all    $ROLE    127.0.0.1/32    scram-sha-256
host    all    $ROLE    ::1/128         scram-sha-256
"
    # First match wins in pg_hba.conf, so the rules go before any trust line.
    local tmp="$hba.probes-tmp"
    { printf '%s\n' "$rules"; cat "$hba"; } >"$tmp"
    chown --reference="$hba" "$tmp"
    chmod --reference="$hba" "$tmp"
    mv "$tmp" "$hba"
    pg -tAc 'select pg_reload_conf()' >/dev/null
}

setup_mariadb() {
    maria <<SQL
create database if not exists $DATABASE;
create user if not exists '$ROLE'@'127.0.0.1' identified by '$PASSWORD';
create user if not exists '$ROLE'@'localhost' identified by '$PASSWORD';
alter user '$ROLE'@'127.0.0.1' identified by '$PASSWORD';
alter user '$ROLE'@'localhost' identified by '$PASSWORD';
use $DATABASE;
create table if not exists fresh_loads (id int primary key, loaded_at timestamp not null,
                                        loaded_at_utc datetime not null);
create table if not exists stale_loads (id int primary key, loaded_at timestamp not null,
                                        loaded_at_utc datetime not null);
create table if not exists numbers (name varchar(40) primary key, n bigint not null);
create table if not exists guarded (id int primary key, label varchar(40) not null);
create table if not exists scratch (id int auto_increment primary key, note varchar(200) not null);
create table if not exists forbidden (id int primary key);
delete from fresh_loads;
insert into fresh_loads values (1, now(), utc_timestamp());
delete from stale_loads;
insert into stale_loads values
  (1, now() - interval 3 day, utc_timestamp() - interval 3 day);
delete from numbers;
insert into numbers values ('orders', 1500), ('refunds', 12);
delete from guarded;
insert into guarded values (1, 'one'), (2, 'two'), (3, 'three');
delete from scratch;
SQL
    local table host
    for host in 127.0.0.1 localhost; do
        for table in fresh_loads stale_loads numbers guarded scratch; do
            maria -e "grant select, insert, update, delete on $DATABASE.$table to '$ROLE'@'$host'"
        done
        # truncate needs DROP: so that only read-only mode stops it
        maria -e "grant drop on $DATABASE.guarded to '$ROLE'@'$host'"
    done
}

verify() {
    PGPASSWORD=wrong psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$ROLE" -d "$DATABASE" -tAc 'select 1' \
        >/dev/null 2>&1 && { echo "setup-databases: PostgreSQL accepts a wrong password for $ROLE" >&2; exit 1; }
    PGPASSWORD="$PASSWORD" psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$ROLE" -d "$DATABASE" -tAc \
        'select count(*) from fresh_loads' >/dev/null
    mysql -h127.0.0.1 -P"$MARIADB_PORT" -u"$ROLE" -p"$PASSWORD" "$DATABASE" \
        -e 'select count(*) from fresh_loads' >/dev/null
}

start_postgresql
start_mariadb
setup_postgresql
setup_mariadb
verify
log "PostgreSQL :$PG_PORT and MariaDB :$MARIADB_PORT ready (role and database $ROLE)"
