#!/bin/sh
# Debian's own arm64 Node.js 20 (Debian 13 "trixie": 20.19, the version the edge needs) and every
# arm64 library it depends on, unpacked into DIR (default /opt/debian-arm64-node) without installing
# them: the arm64 edge bundle's test runs its native modules and the agent itself with it under
# qemu-user on an x64 machine (`qemu-aarch64 -L DIR DIR/usr/bin/node …`). Needs network access to
# the Debian mirror; `.ci/run` calls it. Nothing of the machine changes: apt runs with a package
# list and cache of its own in a temporary folder (the machine's sources, architectures and
# installed packages stay as they are), and the packages are only downloaded and unpacked.
set -eu

DIR=${1:-/opt/debian-arm64-node}
SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
STAMP="$DIR/.rigtrace-arm64-node"

if [ -x "$DIR/usr/bin/node" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$SUITE" ]; then
  exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/etc/sources.list.d" "$TMP/etc/preferences.d" "$TMP/lists/partial" \
  "$TMP/cache/archives/partial" "$TMP/debs" "$TMP/root"
echo "deb $MIRROR $SUITE main" >"$TMP/etc/sources.list"
apt() {
  cmd=$1
  shift
  "$cmd" -o Dir::Etc::sourcelist="$TMP/etc/sources.list" -o Dir::Etc::sourceparts="$TMP/etc/sources.list.d" \
    -o Dir::Etc::preferencesparts="$TMP/etc/preferences.d" -o Dir::State::Lists="$TMP/lists" \
    -o Dir::Cache="$TMP/cache" -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root "$@"
}
echo "Debian $SUITE arm64 package list"
apt apt-get update -qq
# nodejs and what it depends on (recommends and suggests left out), as apt resolves it.
PACKAGES=$(apt apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances nodejs | grep -v '^ ' | grep -v '^<' | sort -u)
# shellcheck disable=SC2086 # the list is split on purpose
(cd "$TMP/debs" && apt apt-get download -qq $PACKAGES)
for deb in "$TMP"/debs/*.deb; do
  dpkg -x "$deb" "$TMP/root"
done
# Debian 13 keeps everything under /usr; /lib is a link there (made by base-files on a real system).
[ -e "$TMP/root/lib" ] || ln -s usr/lib "$TMP/root/lib"
echo "$SUITE" >"$TMP/root/.rigtrace-arm64-node"
mkdir -p "$(dirname "$DIR")"
rm -rf "$DIR"
mv "$TMP/root" "$DIR"
echo "Debian's arm64 Node.js in $DIR: qemu-aarch64 -L $DIR $DIR/usr/bin/node"
