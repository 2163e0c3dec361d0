#!/usr/bin/env bash
# Installs everything git2s3's tests and demo need on a fresh Debian machine.
# Idempotent: a second run only checks what is there. Nothing goes outside the
# repo except Debian packages and the cargo cache.
#
#   scripts/setup.sh           apt packages, the Python venv (.venv/), Node tools (tools/node_modules/)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
APT_PACKAGES=(openssh-server openssh-client git zip unzip curl ca-certificates python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm, for Prism: any installation will do (Debian's, or NodeSource's).
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi

# --- Python tools, pinned, in .venv/ ----------------------------------------
REQS=scripts/requirements.txt
STAMP=.venv/.installed-$(sha256sum "$REQS" | cut -c1-16)
if [ ! -f "$STAMP" ]; then
  log "python venv .venv/ ($REQS)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQS"
  rm -f .venv/.installed-*
  touch "$STAMP"
else
  log "python venv up to date"
fi
# moto's ExecuteChangeSet leaves stack outputs and parameters stale; see the script.
.venv/bin/python scripts/patch_moto.py

# --- Node tools, pinned, in tools/node_modules/ -----------------------------
# Prism and GitHub's OpenAPI description, for the GitHub contract test.
NSTAMP=tools/node_modules/.installed-$(sha256sum tools/package-lock.json | cut -c1-16)
if [ ! -f "$NSTAMP" ]; then
  log "node tools tools/node_modules/ (tools/package-lock.json)"
  npm ci --prefix tools --no-audit --no-fund --loglevel=error
  rm -f tools/node_modules/.installed-*
  touch "$NSTAMP"
else
  log "node tools up to date"
fi
