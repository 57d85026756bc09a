#!/usr/bin/env bash
# Build the probes image from ./Dockerfile with podman and test it for real:
# tests/test_container.py runs it with --network host against a local HTTP server
# and this machine's PostgreSQL (psycopg2 and ODBC), and checks exit codes, the
# reports on the host, their owner, and `probe drivers`.
#
#   scripts/container-test.sh               # build (cached layers), then pytest -m container
#   scripts/container-test.sh build         # only build; prints the image name last
#   scripts/container-test.sh podman-opts   # the global podman options used here
#
# No registry can be pulled from here, so the base is a local debootstrap image
# (scripts/make-test-base.sh, cached). Podman runs daemonless: chroot isolation for
# builds, runc, cgroupfs, which work in a VM or container without systemd. Storage
# is overlay where the kernel allows it (a warm build takes seconds) and vfs
# otherwise (every layer a full copy: minutes), each in a store of its own.
# Environment: PROBES_TEST_IMAGE (the tag to build), PROBES_TEST_BASE, PODMAN_OPTS.
set -euo pipefail

cd "$(dirname "$0")/.."

IMAGE="${PROBES_TEST_IMAGE:-localhost/probes:container-test}"
BASE="${PROBES_TEST_BASE:-localhost/probes-test-base:bookworm}"
STORES=/var/lib/containers

overlay_works() {
    mkdir -p "$STORES"
    local dir
    dir="$(mktemp -d "$STORES/.overlay-check.XXXXXX")"
    mkdir "$dir/lower" "$dir/upper" "$dir/work" "$dir/merged"
    local works=1
    if mount -t overlay overlay -o "lowerdir=$dir/lower,upperdir=$dir/upper,workdir=$dir/work" \
        "$dir/merged" 2>/dev/null; then
        umount "$dir/merged"
        works=0
    fi
    rm -rf "$dir"
    return $works
}

podman_opts() {
    local driver=vfs
    overlay_works && driver=overlay
    echo "--root $STORES/probes-$driver --runroot /run/containers/probes-$driver" \
        "--storage-driver $driver --cgroup-manager cgroupfs --runtime runc --events-backend file"
}

install_podman() {
    command -v podman >/dev/null && command -v debootstrap >/dev/null && return
    echo "container-test: installing podman buildah debootstrap runc" >&2
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install -y podman buildah debootstrap runc >/dev/null \
        || { "${apt[@]}" update >/dev/null \
             && "${apt[@]}" install -y podman buildah debootstrap runc >/dev/null; }
}

build_image() {
    # --format docker: the OCI format drops SHELL (bash -o pipefail) from the image config.
    # --network host: RUN steps reach Debian and PyPI without a bridge (none here).
    "${PODMAN[@]}" build --format docker --isolation chroot --network host --layers \
        --build-arg BASE_IMAGE="$BASE" "$@" . >>"${BUILD_LOG:-/dev/stderr}"
}

build() {
    local started=$SECONDS
    PROBES_TEST_BASE="$BASE" scripts/make-test-base.sh >&2
    local base_done=$SECONDS
    # The builder stage gets a tag of its own so that the prune below keeps its cached
    # layers (the dependency install); then the image itself, reusing them.
    build_image --target builder -t "$IMAGE-builder"
    build_image -t "$IMAGE"
    # Superseded images of earlier builds.
    "${PODMAN[@]}" image prune -f >/dev/null
    echo "container-test: base $((base_done - started))s," \
        "image build $((SECONDS - base_done))s (${PODMAN_OPTS})" >&2
    echo "$IMAGE"
}

install_podman
export PODMAN_OPTS="${PODMAN_OPTS:-$(podman_opts)}"
read -r -a PODMAN <<<"podman $PODMAN_OPTS"

case "${1:-all}" in
    podman-opts)
        echo "$PODMAN_OPTS"
        ;;
    build)
        build
        ;;
    all)
        image="$(build)"
        PROBES_TEST_IMAGE_BUILT="$image" exec .venv/bin/python -m pytest -m container \
            -p no:cacheprovider tests/test_container.py "${@:2}"
        ;;
    *)
        echo "usage: $0 [all|build|podman-opts] [pytest options]" >&2
        exit 2
        ;;
esac
