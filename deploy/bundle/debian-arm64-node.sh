#!/bin/sh
# Debian 12's own arm64 Node.js (18, from Debian's packages) and the arm64 libraries it needs,
# unpacked into DIR (default /opt/debian-arm64-node) without installing them: the arm64 edge
# bundle's test runs its native modules with it under qemu-user on an x64 machine
# (`qemu-aarch64 -L DIR DIR/usr/bin/node …`). Needs root and Debian's package sources; `.ci/run`
# calls it. Nothing of the machine's own Node.js or libraries changes (the packages are only
# downloaded and unpacked), apart from dpkg learning of the arm64 architecture.
set -eu

DIR=${1:-/opt/debian-arm64-node}
PACKAGES="nodejs:arm64 libnode108:arm64 libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libicu72:arm64
  libssl3:arm64 libuv1:arm64 zlib1g:arm64 libbrotli1:arm64 libc-ares2:arm64 libnghttp2-14:arm64
  node-acorn node-cjs-module-lexer node-undici"

if [ -x "$DIR/usr/bin/node" ]; then
  exit 0
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  apt-get update -qq
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 0777 "$TMP" # apt downloads as its own user
# shellcheck disable=SC2086 # the list is split on purpose
(cd "$TMP" && apt-get download -qq $PACKAGES)
mkdir "$TMP/root"
for deb in "$TMP"/*.deb; do
  dpkg -x "$deb" "$TMP/root"
done
mkdir -p "$(dirname "$DIR")"
rm -rf "$DIR"
mv "$TMP/root" "$DIR"
echo "Debian's arm64 Node.js in $DIR: qemu-aarch64 -L $DIR $DIR/usr/bin/node"
