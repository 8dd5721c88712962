#!/usr/bin/env bash
# Debian packages the project needs, installed only when missing.
# Usage: ensure-system.sh [--browser] [--haproxy]   (--haproxy: for `make bench scale`)
set -euo pipefail

packages=()
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
command -v python3 >/dev/null || packages+=(python3)
command -v make >/dev/null || packages+=(make)
command -v openssl >/dev/null || packages+=(openssl)
command -v git >/dev/null || packages+=(git)
for option in "$@"; do
    case $option in
        --browser) command -v chromium >/dev/null || packages+=(chromium fonts-dejavu-core) ;;
        --haproxy) command -v haproxy >/dev/null || packages+=(haproxy) ;;
        *) echo "usage: $0 [--browser] [--haproxy]" >&2; exit 2 ;;
    esac
done
if ((${#packages[@]})); then
    echo "==> Installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
