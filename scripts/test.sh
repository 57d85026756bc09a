#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing (idempotent),
# then runs the linters and the test suite. Arguments go to pytest.
#
#   scripts/test.sh                          # everything, as CI runs it
#   scripts/test.sh tests/kinds -k http      # a subset
#   scripts/test.sh -m "not container"       # all but the slow container test
#
# Steps: Debian packages (scripts/setup-system.sh), PostgreSQL and MariaDB running
# (scripts/start-services.sh), the virtual environment .venv with the package
# installed editable with its test extra, the test databases
# (scripts/setup-databases.sh), ruff, mypy, pytest. pytest writes its JUnit file
# to test-artifacts/pytest-junit.xml. The first failing step ends the script with
# its exit code; pytest's stands as is, so "no tests collected" (5) fails too.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.probes-install-stamp"

step() { echo "== test.sh: $* (${SECONDS}s)"; }

# What the editable install depends on: when none of it changed, pip has nothing to
# do and is skipped (it needs a second or more even then).
install_fingerprint() {
    {
        sha256sum pyproject.toml
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        pwd
    } | sha256sum | cut -d' ' -f1
}

prepare_venv() {
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        step "creating $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
    fi
    local fingerprint
    fingerprint="$(install_fingerprint)"
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$fingerprint" ]] \
            && [[ -x "$VENV/bin/probe" && -x "$VENV/bin/pytest" ]]; then
        return 0
    fi
    step "pip install -e '.[test]'"
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$fingerprint" >"$STAMP"
}

step "system packages"
bash scripts/setup-system.sh
step "database servers"
bash scripts/start-services.sh
prepare_venv
# Commands the tests start by name (probe, ...) come from the venv.
export PATH="$PWD/$VENV/bin:$PATH" VIRTUAL_ENV="$PWD/$VENV"
if [[ -f scripts/setup-databases.sh ]]; then
    step "test databases"
    bash scripts/setup-databases.sh
fi

step "ruff"
ruff check probes tests bench
step "mypy"
mypy
step "pytest $*"
mkdir -p test-artifacts
status=0
pytest --junitxml=test-artifacts/pytest-junit.xml "$@" || status=$?
step "pytest exit code $status"
exit "$status"
