#!/usr/bin/env bash
# Make a local Debian bookworm base image for building the probes image where
# no registry can be pulled from: debootstrap a minbase root file system, make it
# trust this machine's local CAs (pip in the image build goes through them), and
# `podman import` it. Cached: does nothing when the image already exists.
#
#   scripts/make-test-base.sh            # make localhost/probes-test-base:bookworm
#   scripts/make-test-base.sh --force    # make it again
#
# Environment: PROBES_TEST_BASE (image name), DEBIAN_MIRROR, LOCAL_CA_DIR,
# PODMAN_OPTS (global podman options; default: those of scripts/container-test.sh).
set -euo pipefail

IMAGE="${PROBES_TEST_BASE:-localhost/probes-test-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
LOCAL_CA_DIR="${LOCAL_CA_DIR:-/usr/local/share/ca-certificates}"
read -r -a PODMAN <<<"podman ${PODMAN_OPTS:-$("$(dirname "$0")/container-test.sh" podman-opts)}"

force=0
[[ "${1:-}" == "--force" ]] && force=1

if [[ $force -eq 0 ]] && "${PODMAN[@]}" image exists "$IMAGE"; then
    echo "make-test-base: $IMAGE exists (cached); --force to make it again"
    exit 0
fi

for tool in debootstrap tar; do
    command -v "$tool" >/dev/null || {
        echo "make-test-base: $tool is missing: apt-get install -y podman buildah debootstrap runc" >&2
        exit 2
    }
done

rootfs="$(mktemp -d /var/tmp/probes-test-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"  # becomes the image's /: mktemp's 0700 would lock out non-root users

started=$SECONDS
echo "make-test-base: debootstrap bookworm into $rootfs"
debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR" \
    >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# The same apt sources and size trims as debian:bookworm-slim, so a build on
# this base behaves like one on the real base image.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF

# HTTPS from this machine goes through local CAs; without them pip in the image
# build fails its certificate checks. A real debian:bookworm-slim does not need this.
if compgen -G "$LOCAL_CA_DIR/*.crt" >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "$LOCAL_CA_DIR"/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
fi

rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

echo "make-test-base: podman import as $IMAGE"
tar --numeric-owner -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    - "$IMAGE" >/dev/null
echo "make-test-base: $IMAGE made in $((SECONDS - started))s"
