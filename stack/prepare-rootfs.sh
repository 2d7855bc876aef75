#!/usr/bin/env bash
# prepare-rootfs.sh ROOTFS KIND
#
# Turns a fresh `debootstrap --variant=minbase` tree into a paas image rootfs, ready to be
# tarred and imported into the engine. KIND is `run` or `build` (the stacks) or `postgres`
# or `redis` (the add-on images). Runs as root on the host, after debootstrap and before
# the import; it is idempotent (safe to run twice).
#
# What it does, in order:
#   1. apt sources for bookworm, bookworm-updates and bookworm-security, and a dpkg config
#      that keeps docs, man pages and translations out (of this image and of any image
#      built FROM it);
#   2. inside the chroot: `apt-get update`, `dist-upgrade` (debootstrap installs the point
#      release only, without security fixes), then `apt-get install --no-install-recommends`
#      of packages-KIND.txt. apt, not `debootstrap --include`, installs the packages:
#      debootstrap's resolver cannot install npm (virtual packages and alternatives);
#   3. the unprivileged `app` user (uid/gid 1000, home /app, shell bash) in the stacks;
#      an add-on's service user (`postgres` or `redis`, uid/gid 999 as in the official
#      images) is made before step 2, so a rebuilt image keeps the owner of existing
#      volumes whatever users the packages add;
#   4. the directories of the contract: /app (stacks), /cache and /env (build only);
#      /var/lib/paas-addon (add-ons: owned by the service user, 0700) and postgres's
#      socket directory /var/run/postgresql;
#   5. the helper programs: paas-launch and paas-static (stacks), paas-build, its python
#      helper, the built-in buildpacks under /opt/paas/buildpacks and a precompiled Go
#      standard library in /opt/paas/go-build-seed (build only); the add-on's start
#      script /usr/local/bin/paas-addon-KIND (add-ons);
#   6. trimming: docs (but copyright files), man pages, translations, apt lists and
#      caches, logs, device nodes, the host's hostname/hosts/resolv.conf; in every image
#      but the build image, setuid/setgid bits too.
#
# Inputs besides the arguments (environment):
#   PAAS_STACK_FILES      directory holding packages-*.txt, bin/ and lib/ (default: this
#                         script's directory)
#   PAAS_BUILDPACKS_DIR   the built-in buildpacks to bake into the build image (default:
#                         ../buildpacks beside this script)
#   PAAS_APT_CACHE_DIR    optional host directory bind-mounted on the chroot's
#                         /var/cache/apt/archives, so the two images share downloaded .debs
#   PAAS_EXTRA_CA_CERTS   optional host directory of *.crt files (PEM) added to the stacks'
#                         trust store, for sites whose egress goes through a TLS-inspecting
#                         proxy: without them pip, npm and git cannot reach their registries
#                         (the add-on images open no outbound TLS and hold no trust store)
#   PAAS_DEBIAN_MIRROR    default http://deb.debian.org/debian
#   PAAS_SECURITY_MIRROR  default http://deb.debian.org/debian-security; "none" to skip
#
# Exit codes: 0 done; 64 bad arguments; 65 ROOTFS is not a debootstrapped tree; 1 other.
set -euo pipefail

usage() { echo "usage: prepare-rootfs.sh ROOTFS run|build|postgres|redis" >&2; exit 64; }
[ $# -eq 2 ] || usage
ROOTFS=$(realpath -- "$1")
KIND=$2
case "$KIND" in run|build) ADDON= ;; postgres|redis) ADDON=$KIND ;; *) usage ;; esac

if [ "$ROOTFS" -ef / ]; then
    echo "prepare-rootfs: refusing to prepare the host's own root; give the debootstrap target" >&2
    exit 65
fi
if [ ! -f "$ROOTFS/etc/debian_version" ] || [ ! -x "$ROOTFS/usr/bin/dpkg" ]; then
    echo "prepare-rootfs: $ROOTFS is not a debootstrapped Debian tree; run debootstrap first" >&2
    exit 65
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "prepare-rootfs: must run as root (it chroots into $ROOTFS)" >&2
    exit 1
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK_FILES=${PAAS_STACK_FILES:-$here}
BUILDPACKS_DIR=${PAAS_BUILDPACKS_DIR:-$here/../buildpacks}
MIRROR=${PAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${PAAS_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
APP_UID=1000
APP_GID=1000
# The add-ons' service users, fixed (as in the official postgres and redis images): the
# volumes of existing add-ons are owned by this uid.
SERVICE_UID=999
SERVICE_GID=999

log() { echo "prepare-rootfs[$KIND]: $*"; }

# ---- 1. apt sources, no docs ---------------------------------------------------------
packages_file=$STACK_FILES/packages-$KIND.txt
[ -f "$packages_file" ] || { echo "prepare-rootfs: $packages_file is missing" >&2; exit 1; }
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$packages_file" | grep -v '^$')

{
    echo "deb $MIRROR bookworm main"
    echo "deb $MIRROR bookworm-updates main"
    [ "$SECURITY_MIRROR" = none ] || echo "deb $SECURITY_MIRROR bookworm-security main"
} > "$ROOTFS/etc/apt/sources.list"
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d" "$ROOTFS/etc/apt/apt.conf.d"
cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/paas-excludes" <<'EOF'
# paas stack: no docs, man pages or translations (copyright files are kept)
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
cat > "$ROOTFS/etc/apt/apt.conf.d/90paas" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Retries "3";
EOF

# ---- 2. packages, inside the chroot --------------------------------------------------
if [ -n "$ADDON" ]; then
    # The service user first, with a fixed uid, so the package's postinst finds it.
    case "$ADDON" in
        postgres) service_home=/var/lib/postgresql service_shell=/bin/bash service_comment="PostgreSQL administrator" ;;
        redis) service_home=/var/lib/redis service_shell=/usr/sbin/nologin service_comment="Redis" ;;
    esac
    if ! chroot "$ROOTFS" getent group "$ADDON" >/dev/null; then
        chroot "$ROOTFS" groupadd --system --gid "$SERVICE_GID" "$ADDON"
    fi
    if ! chroot "$ROOTFS" getent passwd "$ADDON" >/dev/null; then
        chroot "$ROOTFS" useradd --system --uid "$SERVICE_UID" --gid "$SERVICE_GID" \
            --home-dir "$service_home" --no-create-home --shell "$service_shell" \
            --comment "$service_comment" "$ADDON"
    fi
fi
if [ "$ADDON" = postgres ]; then
    # The add-on makes its own cluster in its volume at first start: no Debian cluster
    # (/etc/postgresql/15/main, /var/lib/postgresql/15/main) in the image.
    mkdir -p "$ROOTFS/etc/postgresql-common"
    printf '# paas: the add-on makes its own cluster\ncreate_main_cluster = false\n' \
        > "$ROOTFS/etc/postgresql-common/createcluster.conf"
fi
mounted=()
cleanup() {
    local i
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    mounted=()
    rm -f "$ROOTFS/usr/sbin/policy-rc.d"
}
trap cleanup EXIT

# Daemons must not start inside the chroot; /proc and a few device nodes are needed by
# maintainer scripts (the nodes are removed again in step 6).
printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
mkdir -p "$ROOTFS/proc" "$ROOTFS/dev"
mount -t proc proc "$ROOTFS/proc" && mounted+=("$ROOTFS/proc")
for node in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
    set -- $node
    [ -e "$ROOTFS/dev/$1" ] || mknod -m 0666 "$ROOTFS/dev/$1" "$2" "$3" "$4"
done
if [ -n "${PAAS_APT_CACHE_DIR:-}" ]; then
    mkdir -p "$PAAS_APT_CACHE_DIR/partial" "$ROOTFS/var/cache/apt/archives"
    mount --bind "$PAAS_APT_CACHE_DIR" "$ROOTFS/var/cache/apt/archives" && mounted+=("$ROOTFS/var/cache/apt/archives")
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true

in_chroot() {
    chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        LC_ALL=C.UTF-8 "$@"
}
# unsafe-io: no fsync per file; a half-written tree is thrown away anyway (2-3x faster).
apt_opts=(-q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-unsafe-io)
log "apt-get update"
in_chroot apt-get -q update
log "apt-get dist-upgrade (bookworm-updates, bookworm-security)"
in_chroot apt-get "${apt_opts[@]}" dist-upgrade
log "installing ${#packages[@]} packages: ${packages[*]}"
in_chroot apt-get "${apt_opts[@]}" install --no-install-recommends "${packages[@]}"
[ -n "${PAAS_APT_CACHE_DIR:-}" ] || in_chroot apt-get -q clean
if [ "$KIND" = build ] && [ -x "$ROOTFS/usr/bin/go" ]; then
    # Go 1.19 ships no compiled standard library: without this seed, every app's first
    # build compiles it (~45 s here). The go buildpack copies the seed into an empty
    # CACHE_DIR/go-build. Same flags as the buildpack (-trimpath), or the keys differ.
    log "precompiling the Go standard library into /opt/paas/go-build-seed"
    rm -rf "$ROOTFS/opt/paas/go-build-seed"
    in_chroot env HOME=/tmp GOCACHE=/opt/paas/go-build-seed GOPATH=/tmp/go GOFLAGS= GOTOOLCHAIN=local \
        go build -trimpath std
    rm -rf "$ROOTFS/tmp/go"
    chmod -R a+rX "$ROOTFS/opt/paas/go-build-seed"
fi
if [ -n "${PAAS_EXTRA_CA_CERTS:-}" ] && [ -z "$ADDON" ]; then
    shopt -s nullglob
    extra=("$PAAS_EXTRA_CA_CERTS"/*.crt)
    shopt -u nullglob
    log "adding ${#extra[@]} extra CA certificate(s) from $PAAS_EXTRA_CA_CERTS"
    install -d -m 0755 "$ROOTFS/usr/local/share/ca-certificates/paas"
    for crt in "${extra[@]}"; do
        install -m 0644 "$crt" "$ROOTFS/usr/local/share/ca-certificates/paas/$(basename "$crt")"
    done
    in_chroot update-ca-certificates
fi
cleanup

# ---- 3. the app user (stacks; an add-on's service user was made in step 2) ------------
if [ -z "$ADDON" ] && ! chroot "$ROOTFS" getent group app >/dev/null; then
    chroot "$ROOTFS" groupadd --gid "$APP_GID" app
fi
if [ -z "$ADDON" ] && ! chroot "$ROOTFS" getent passwd app >/dev/null; then
    chroot "$ROOTFS" useradd --uid "$APP_UID" --gid "$APP_GID" --home-dir /app \
        --no-create-home --shell /bin/bash --comment "paas app" app
fi
if [ -n "$ADDON" ] && [ "$(chroot "$ROOTFS" id -u "$ADDON")" != "$SERVICE_UID" ]; then
    echo "prepare-rootfs: the $ADDON user is not uid $SERVICE_UID; existing add-on volumes would not be readable" >&2
    exit 1
fi

# ---- 4. contract directories -----------------------------------------------------------
if [ -z "$ADDON" ]; then
    install -d -m 0755 -o "$APP_UID" -g "$APP_GID" "$ROOTFS/app"
else
    # A new named volume mounted here copies this directory's owner and mode.
    install -d -m 0700 -o "$SERVICE_UID" -g "$SERVICE_GID" "$ROOTFS/var/lib/paas-addon"
fi
if [ "$KIND" = build ]; then
    install -d -m 0755 -o "$APP_UID" -g "$APP_GID" "$ROOTFS/cache" "$ROOTFS/env"
fi

# ---- 5. helper programs ----------------------------------------------------------------
install -d -m 0755 "$ROOTFS/usr/local/bin"
if [ -z "$ADDON" ]; then
    install -m 0755 "$STACK_FILES/bin/paas-launch" "$ROOTFS/usr/local/bin/paas-launch"
    install -m 0755 "$STACK_FILES/bin/paas-static" "$ROOTFS/usr/local/bin/paas-static"
else
    install -m 0755 "$STACK_FILES/bin/paas-addon-$ADDON" "$ROOTFS/usr/local/bin/paas-addon-$ADDON"
fi
if [ "$KIND" = build ]; then
    install -m 0755 "$STACK_FILES/bin/paas-build" "$ROOTFS/usr/local/bin/paas-build"
    install -d -m 0755 "$ROOTFS/usr/local/lib/paas"
    install -m 0644 "$STACK_FILES/lib/build_result.py" "$ROOTFS/usr/local/lib/paas/build_result.py"
    if [ ! -f "$BUILDPACKS_DIR/order.txt" ]; then
        echo "prepare-rootfs: no built-in buildpacks at $BUILDPACKS_DIR (order.txt missing); set PAAS_BUILDPACKS_DIR" >&2
        exit 1
    fi
    rm -rf "$ROOTFS/opt/paas/buildpacks"
    install -d -m 0755 "$ROOTFS/opt/paas"
    cp -r "$BUILDPACKS_DIR" "$ROOTFS/opt/paas/buildpacks"
    chown -R 0:0 "$ROOTFS/opt/paas/buildpacks"
    chmod -R u=rwX,go=rX "$ROOTFS/opt/paas/buildpacks"
    find "$ROOTFS/opt/paas/buildpacks" -path '*/bin/*' -type f -exec chmod 0755 {} +
fi
printf 'bookworm\n' > "$ROOTFS/etc/paas-stack"
printf 'kind=%s\n' "$KIND" >> "$ROOTFS/etc/paas-stack"

# ---- 6. trimming ------------------------------------------------------------------------
log "trimming"
find "$ROOTFS/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian \
       "$ROOTFS"/usr/share/linda
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/archives/partial/* \
       "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
       "$ROOTFS"/var/cache/ldconfig/aux-cache "$ROOTFS"/debootstrap
find "$ROOTFS/var/log" -type f -delete 2>/dev/null || true
# Docker gives every container its own /dev, /proc, /sys, /run and these three files;
# leaving device nodes out also keeps the rootfs tar simple (no char/block entries).
rm -rf "${ROOTFS:?}"/dev/* "${ROOTFS:?}"/proc/* "${ROOTFS:?}"/sys/* "${ROOTFS:?}"/run/*
: > "$ROOTFS/etc/hostname"
: > "$ROOTFS/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOTFS/etc/hosts"
rm -f "$ROOTFS/etc/machine-id" "$ROOTFS/var/lib/dbus/machine-id"
if [ "$KIND" != build ]; then
    # Apps (uid 1000) and add-ons (their service user) run with no-new-privileges:
    # setuid/setgid bits (su, passwd, mount...) can only ever be an attack surface here.
    find "$ROOTFS" -xdev -type f -perm /6000 -exec chmod ug-s {} +
fi
if [ "$ADDON" = postgres ]; then
    # JIT compilation (llvmjit, LLVM and z3: 150 MB, more than the rest of PostgreSQL)
    # goes: the add-on turns jit off, and a server without its provider library simply
    # runs without JIT if a user turns it back on.
    rm -rf "$ROOTFS"/usr/lib/postgresql/*/lib/llvmjit* "$ROOTFS"/usr/lib/postgresql/*/lib/bitcode
    find "$ROOTFS/usr/lib" \( -name 'libLLVM-*.so*' -o -name 'libz3.so*' \) -delete
    # ssl-cert's snakeoil key would be the same in every add-on; the add-on serves no TLS.
    rm -f "$ROOTFS"/etc/ssl/private/ssl-cert-snakeoil.key "$ROOTFS"/etc/ssl/certs/ssl-cert-snakeoil.pem
    find "$ROOTFS/etc/ssl/certs" -xtype l -delete 2>/dev/null || true
    # After the trimming emptied /run: the server's and the clients' socket directory.
    install -d -m 2775 -o "$SERVICE_UID" -g "$SERVICE_GID" "$ROOTFS/run/postgresql"
fi
# Build tools must not leave root-owned caches behind for the app user.
rm -rf "$ROOTFS/root/.cache" "$ROOTFS/tmp/"* 2>/dev/null || true
chmod 1777 "$ROOTFS/tmp"

log "done ($(du -sh --apparent-size "$ROOTFS" 2>/dev/null | cut -f1) apparent)"
