#!/usr/bin/env bash
# install.sh [--systemd]: installs paas on this Debian/Ubuntu host (run as root).
#
# Installs the Debian packages the server needs, builds the release binary with the
# host's Rust toolchain, installs it to /usr/local/bin/paas and creates the data dir
# /var/lib/paas. With --systemd it also writes a hardened unit, /etc/paas/paas.env for
# settings, and starts the service. Running it again upgrades in place; it is harmless.
set -euo pipefail
cd "$(dirname "$0")"
systemd=0
for arg in "$@"; do
    case "$arg" in
        --systemd) systemd=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg (use --systemd)" >&2; exit 64 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root (sudo ./install.sh)" >&2; exit 1; }

packages=(git ca-certificates debootstrap build-essential pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Under sudo, the invoking user's rustup toolchain is the one to use.
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
    user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    [ -x "$user_home/.cargo/bin/cargo" ] && export PATH="$user_home/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "install.sh: cargo not found; install Rust 1.85 or newer (https://rustup.rs)" >&2; exit 1; }
command -v docker >/dev/null || [ -S /var/run/docker.sock ] || echo "install.sh: warning: no Docker engine found; paas needs one to build and run apps" >&2

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/paas-target}
cargo build --release --locked
install -m 0755 "$CARGO_TARGET_DIR/release/paas" /usr/local/bin/paas.new
mv -f /usr/local/bin/paas.new /usr/local/bin/paas
install -d -m 0700 /var/lib/paas
echo "installed /usr/local/bin/paas ($(/usr/local/bin/paas --version))"

if [ "$systemd" = 1 ]; then
    install -d -m 0755 /etc/paas
    if [ ! -f /etc/paas/paas.env ]; then
        cat > /etc/paas/paas.env <<'ENV'
# Settings of paas server (see paas server --help). Restart after a change:
#   systemctl restart paas
PAAS_HTTP_ADDR=0.0.0.0:80
PAAS_HTTPS_ADDR=0.0.0.0:443
PAAS_DATA_DIR=/var/lib/paas
PAAS_DOMAIN=localhost
ENV
        chmod 0600 /etc/paas/paas.env
    fi
    cat > /etc/systemd/system/paas.service <<'UNIT'
[Unit]
Description=paas, a self-hosted Heroku
After=network-online.target docker.service
Wants=network-online.target docker.service

[Service]
EnvironmentFile=/etc/paas/paas.env
ExecStart=/usr/local/bin/paas server
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=45
ProtectSystem=strict
ReadWritePaths=/var/lib/paas
PrivateTmp=yes
NoNewPrivileges=yes
ProtectHome=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable --now paas
    echo "paas.service started; the first start printed the admin's token: journalctl -u paas | grep token"
fi
