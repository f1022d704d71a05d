#!/usr/bin/env bash
# Installs what the tests need from Debian's packages: Chromium + chromedriver (WhatsApp Web, browser tests)
# the libraries Qt WebEngine links (the desktop window) and Dovecot's IMAP server (the email inbox tests run their
# own from a throwaway config). Needs root; prints what to do otherwise.
set -euo pipefail

PACKAGES=(
  chromium chromium-driver fonts-dejavu-core xvfb
  libnss3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0
  libxcb-xkb1 libx11-xcb1 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2 libegl1 libgl1
  libgbm1 libxcb-icccm4 libxcb-keysyms1
  dovecot-imapd
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}  (tests that need them are skipped)" >&2
  exit 0
fi
echo "Installing system packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
