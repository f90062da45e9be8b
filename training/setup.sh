#!/bin/sh
# System packages for synthesising the training data (Debian bookworm).
# flite + espeak-ng are in main; the MBROLA voices are in non-free, so enable contrib/non-free.
# The smoke test (training/smoke.sh) needs only flite.
set -eu
if [ "${1:-}" = "--smoke" ]; then
    apt-get update
    apt-get install -y --no-install-recommends flite
    exit 0
fi
if ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/facewire-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update
apt-get install -y --no-install-recommends flite espeak-ng mbrola \
    mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
