#!/bin/sh
# Installs the RigTrace edge agent from this bundle (docs/INSTALL-PLANT.md).
# Needs Node.js 20.19 or later and nothing else: no compiler, no network, no npm.
set -eu

usage() {
  cat <<'EOF'
usage: sudo ./install.sh [options]

  --prefix DIR        where the agent goes (default /opt/rigtrace-edge); an earlier
                      install there is kept as DIR.previous
  --bin-dir DIR       where the rigtrace-edge command is linked (default /usr/local/bin)
  --unit-dir DIR      where the systemd unit is written (default /etc/systemd/system)
  --no-unit           do not write the systemd unit
  --user NAME         the service user (default rigtrace)
  --no-service-user   do not create the service user, its state folder /var/lib/rigtrace-edge
                      or /etc/rigtrace (they exist already, or this is not the service's PC)
  --node FILE         the node executable (default: `node` on PATH)
  --start             enable and start the service (needs /etc/rigtrace/edge.yaml and an
                      enrolled edge); without it the service is installed, not started
  -h, --help          this text
EOF
}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

PREFIX=/opt/rigtrace-edge
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system
WRITE_UNIT=yes
SERVICE_USER=rigtrace
CREATE_USER=yes
NODE=
START=no
# The service's folders; the unit names these. (Tests set the two variables to put them under a
# temp folder.)
DATA_DIR=${RIGTRACE_EDGE_INSTALL_DATA_DIR:-/var/lib/rigtrace-edge}
CONFIG_DIR=${RIGTRACE_EDGE_INSTALL_CONFIG_DIR:-/etc/rigtrace}

need_value() {
  [ $# -ge 2 ] && [ -n "$2" ] || { echo "install.sh: $1 needs a value" >&2; usage >&2; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
    --bin-dir) need_value "$@"; BIN_DIR=$2; shift 2 ;;
    --unit-dir) need_value "$@"; UNIT_DIR=$2; shift 2 ;;
    --no-unit) WRITE_UNIT=no; shift ;;
    --user) need_value "$@"; SERVICE_USER=$2; shift 2 ;;
    --no-service-user) CREATE_USER=no; shift ;;
    --node) need_value "$@"; NODE=$2; shift 2 ;;
    --start) START=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

# Paths go into a systemd unit and a shell wrapper: absolute, and no characters that need quoting.
for p in "$PREFIX" "$BIN_DIR" "$UNIT_DIR"; do
  case "$p" in
    /*) ;;
    *) fail "$p: an absolute path is needed" ;;
  esac
  case "$p" in
    *[!A-Za-z0-9/._+-]*) fail "$p: only letters, digits and / . _ + - are allowed in the paths" ;;
  esac
done
case "$SERVICE_USER" in
  "" | *[!a-z0-9_-]*) fail "--user $SERVICE_USER: a user name of a-z 0-9 _ -" ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || fail "--prefix /: choose a folder of its own"

HERE=$(cd "$(dirname "$0")" && pwd)
[ -f "$HERE/bundle.json" ] && [ -d "$HERE/app" ] || fail "run this script from the unpacked bundle"

# 1. Node.js: 20.19 or later, the bundle's platform.
if [ -z "$NODE" ]; then
  NODE=$(command -v node) || fail "Node.js is not installed (or not on PATH): install Node.js 20.19 or later, or pass --node FILE"
fi
[ -x "$NODE" ] || fail "$NODE is not an executable"
NODE=$("$NODE" -p process.execPath) || fail "$NODE does not run"
"$NODE" -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 19)) {
    console.error(`install.sh: Node.js ${process.versions.node} is too old: 20.19 or later is needed`);
    process.exit(1);
  }
  const bundle = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const here = `${process.platform}-${process.arch}`;
  if (bundle.platform !== here) {
    console.error(`install.sh: this bundle is for ${bundle.platform}, this PC is ${here}`);
    process.exit(1);
  }' "$HERE/bundle.json" || exit 1
case "$NODE" in
  *[!A-Za-z0-9/._+-]*) fail "$NODE: only letters, digits and / . _ + - are allowed in the node path" ;;
esac

# 2. Every file is the one that was bundled.
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$HERE" && sha256sum --quiet --strict -c SHA256SUMS) || fail "the bundle is damaged: a file does not match SHA256SUMS"
else
  (cd "$HERE" && "$NODE" -e '
    const { createHash } = require("crypto"); const fs = require("fs");
    let bad = 0;
    for (const line of fs.readFileSync("SHA256SUMS", "utf8").split("\n").filter(Boolean)) {
      const sum = line.slice(0, 64), file = line.slice(66);
      const got = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
      if (got !== sum) { console.error(`${file}: FAILED`); bad++; }
    }
    process.exit(bad ? 1 : 0);') || fail "the bundle is damaged: a file does not match SHA256SUMS"
fi

if [ "$CREATE_USER" = yes ] || [ "$START" = yes ]; then
  [ "$(id -u)" -eq 0 ] || fail "run as root (sudo ./install.sh), or pass --no-service-user"
fi
# useradd is in /usr/sbin, which a root shell from `su` without `-` does not have on PATH (Debian):
# found here, before anything is changed.
USERADD=
if [ "$CREATE_USER" = yes ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
  USERADD=$(PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" && command -v useradd) ||
    fail "useradd not found (Debian package passwd): make the user $SERVICE_USER first"
fi

# 3. The new tree beside the old one; it must run before it replaces anything.
NEW="$PREFIX.new.$$"
rm -rf "$NEW"
mkdir -p "$(dirname "$PREFIX")"
mkdir "$NEW"
trap 'rm -rf "$NEW"' EXIT
cp -R "$HERE/app/." "$NEW/"
cp -R "$HERE/share" "$HERE/docs" "$HERE/bundle.json" "$HERE/SHA256SUMS" "$NEW/"
mkdir "$NEW/bin"
cat >"$NEW/bin/rigtrace-edge" <<EOF
#!/bin/sh
exec $NODE $PREFIX/edge/dist/cli.js "\$@"
EOF
chmod 0755 "$NEW/bin/rigtrace-edge"
chmod -R u+rwX,go+rX,go-w "$NEW"
"$NODE" "$NEW/edge/dist/cli.js" --help >/dev/null || fail "the agent does not start with $NODE"
"$NODE" -e '
  const { createRequire } = require("module");
  const require2 = createRequire(process.argv[1]);
  require2("sqlite3");
  require2(require2.resolve("argon2", { paths: [process.argv[2]] }));' \
  "$NEW/edge/dist/cli.js" "$NEW/node_modules/@rigtrace/protocols" ||
  fail "the bundle's native modules (sqlite3, argon2) do not load with $NODE on this PC; the bundle needs glibc $("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).glibc' "$HERE/bundle.json") (ldd --version shows this PC's)"

if [ -e "$PREFIX" ]; then
  rm -rf "$PREFIX.previous"
  mv "$PREFIX" "$PREFIX.previous"
fi
mv "$NEW" "$PREFIX"
trap - EXIT

# 4. The command on PATH.
mkdir -p "$BIN_DIR"
ln -sf "$PREFIX/bin/rigtrace-edge" "$BIN_DIR/rigtrace-edge"

# 5. The service user, its state folder and the config folder.
if [ "$CREATE_USER" = yes ]; then
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    "$USERADD" --system --user-group --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  install -d -o "$SERVICE_USER" -g "$(id -gn "$SERVICE_USER")" -m 0700 "$DATA_DIR"
  install -d -m 0755 "$CONFIG_DIR"
fi
# The service runs with the user's own group (rigtrace for the user made here; an existing user's
# may be named otherwise, e.g. nobody's is nogroup on Debian).
SERVICE_GROUP=$(id -gn "$SERVICE_USER" 2>/dev/null) || SERVICE_GROUP=$SERVICE_USER

# 6. The systemd unit, installed, not started unless asked.
if [ "$WRITE_UNIT" = yes ]; then
  mkdir -p "$UNIT_DIR"
  sed -e "s#@NODE@#$NODE#g" -e "s#@PREFIX@#$PREFIX#g" -e "s#@USER@#$SERVICE_USER#g" -e "s#@GROUP@#$SERVICE_GROUP#g" \
    "$PREFIX/share/rigtrace-edge.service.in" >"$UNIT_DIR/rigtrace-edge.service.tmp"
  mv "$UNIT_DIR/rigtrace-edge.service.tmp" "$UNIT_DIR/rigtrace-edge.service"
  if [ "$UNIT_DIR" = /etc/systemd/system ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
  fi
fi

VERSION=$("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$PREFIX/bundle.json")
echo "rigtrace-edge $VERSION installed in $PREFIX (node: $NODE)"
echo "command: $BIN_DIR/rigtrace-edge"
[ "$WRITE_UNIT" = yes ] && echo "systemd unit: $UNIT_DIR/rigtrace-edge.service"

if [ "$START" = yes ]; then
  [ "$WRITE_UNIT" = yes ] || fail "--start needs the unit (drop --no-unit)"
  [ -f "$CONFIG_DIR/edge.yaml" ] || fail "--start: no $CONFIG_DIR/edge.yaml yet (example: $PREFIX/share/edge.yaml.example)"
  systemctl enable --now rigtrace-edge
  echo "service rigtrace-edge started"
else
  echo "not started. Next: $CONFIG_DIR/edge.yaml (example: $PREFIX/share/edge.yaml.example),"
  echo "  sudo -u $SERVICE_USER rigtrace-edge enroll --config $CONFIG_DIR/edge.yaml --cloud URL --token TOKEN"
  echo "  sudo systemctl enable --now rigtrace-edge"
fi
