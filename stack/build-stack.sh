#!/usr/bin/env bash
# build-stack.sh run|build [WORK_DIR]
#
# The shell prototype of what `paas stack:build` does in Rust (bollard): debootstrap a
# minbase tree, prepare-rootfs.sh it, and stream the tree as a tar into the engine's image
# import API with the image config ("changes") the stack needs. Prints timings.
#
#   WORK_DIR   (default /var/tmp/paas-stack) holds debs/ (debootstrap's --cache-dir),
#              apt/ (apt's .deb cache shared by both images), base/ (a pristine
#              debootstrap, reused by the second image) and the KIND-rootfs/ being built.
#   PAAS_STACK_FRESH_BASE=1  debootstrap again instead of copying base/.
# Runs as root (debootstrap and chroot need it). Exit status: non-zero on any failure.
set -euo pipefail
KIND=${1:?usage: build-stack.sh run|build [WORK_DIR]}
case "$KIND" in run|build) ;; *) echo "usage: build-stack.sh run|build [WORK_DIR]" >&2; exit 64 ;; esac
WORK=${2:-/var/tmp/paas-stack}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MIRROR=${PAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE=paas/stack-$KIND:bookworm

now() { date +%s.%N; }
elapsed() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
mkdir -p "$WORK/debs" "$WORK/apt"
t0=$(now)

# 1. debootstrap (once; the second image copies the pristine tree)
if [ "${PAAS_STACK_FRESH_BASE:-0}" = 1 ] || [ ! -f "$WORK/base/etc/debian_version" ]; then
    rm -rf "$WORK/base.tmp" "$WORK/base"
    mkdir -p "$WORK/base.tmp"
    debootstrap --variant=minbase --cache-dir="$WORK/debs" bookworm "$WORK/base.tmp" "$MIRROR" \
        > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    mv "$WORK/base.tmp" "$WORK/base"
    echo "build-stack[$KIND]: debootstrap $(elapsed "$t0")s"
fi
t1=$(now)
rootfs=$WORK/$KIND-rootfs
rm -rf "$rootfs"
cp -a "$WORK/base" "$rootfs"
echo "build-stack[$KIND]: copy of base $(elapsed "$t1")s"

# 2. prepare
t2=$(now)
PAAS_APT_CACHE_DIR="$WORK/apt" "$here/prepare-rootfs.sh" "$rootfs" "$KIND" > "$WORK/prepare-$KIND.log" 2>&1 ||
    { tail -30 "$WORK/prepare-$KIND.log" >&2; exit 1; }
echo "build-stack[$KIND]: prepare-rootfs $(elapsed "$t2")s"

# 3. import. These "changes" are exactly what the Rust import must pass.
t3=$(now)
inputs=$(cd "$here/.." && find stack/packages-*.txt stack/prepare-rootfs.sh stack/bin stack/lib buildpacks -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$rootfs" -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV HOME=/app' \
        --change 'ENV STACK=bookworm' \
        --change 'USER app' \
        --change 'WORKDIR /app' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL paas.stack=bookworm paas.stack.kind=$KIND paas.stack.inputs=$inputs" \
        --message "paas $KIND stack (bookworm)" \
        - "$IMAGE" > /dev/null
echo "build-stack[$KIND]: import $(elapsed "$t3")s"
echo "build-stack[$KIND]: total $(elapsed "$t0")s; $IMAGE is $(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec)"
rm -rf "$rootfs"
