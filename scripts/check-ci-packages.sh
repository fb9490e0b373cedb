#!/usr/bin/env bash
# Checks that .ci/run's Debian package list is enough on a machine that never had the packages:
# a minimal Debian 12 root (debootstrap --variant=minbase), exactly .ci/apt-packages installed into
# it with --no-install-recommends as .ci/run does, then, inside it, the Python import check .ci/run
# does, a real pymodbus server read by mbpoll, a mail sent through aiosmtpd with smtplib,
# mosquitto_pub/mosquitto_sub against a Mosquitto started there, every command the tests run, and
# deploy/bundle/debian-arm64-node.sh with Debian's arm64 Node.js run under qemu-user.
#
# Usage: sudo scripts/check-ci-packages.sh [DIR]
#   DIR keeps the debootstrapped base (DIR/minbase) and the downloaded packages (DIR/apt-archives)
#   for the next run; each run installs into a fresh copy (DIR/root). Without DIR everything goes
#   into a temporary folder, removed at the end. Needs root, debootstrap (apt-get install
#   debootstrap) and Debian's package mirror (DEBIAN_MIRROR, default debootstrap's). Not part of
#   `npm test`. Prints one summary line; exits 1 naming each check that failed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SUITE=bookworm
START=$SECONDS

say() { printf '== [%4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() {
  printf 'check-ci-packages: %s\n' "$*" >&2
  exit 2
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "needs debootstrap: apt-get install debootstrap"
[ $# -le 1 ] || die "usage: $0 [DIR]"

if [ $# = 1 ]; then
  mkdir -p "$1"
  WORK=$(cd "$1" && pwd -P)
  KEEP=1
else
  WORK=$(realpath "$(mktemp -d /var/tmp/rigtrace-ci-root.XXXXXX)")
  KEEP=0
fi
BASE=$WORK/minbase
ROOT=$WORK/root
ARCHIVES=$WORK/apt-archives

# Mounts under a folder, deepest first (from /proc/self/mounts, which is what umount acts on).
mounts_under() {
  awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

# Ends the processes whose root is ROOT: only ones this script started (its peers inside the
# chroot, or anything a package's install left running there), by their id.
stop_chroot_processes() {
  local link pid
  for link in /proc/[0-9]*/root; do
    pid=${link#/proc/}
    pid=${pid%/root}
    if [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

unmount_all() {
  local m
  stop_chroot_processes
  sleep 0.2
  # The /dev bind's submounts must not pass their unmounting on to the machine's /dev.
  if mountpoint -q "$ROOT/dev" 2>/dev/null; then mount --make-rslave "$ROOT/dev"; fi
  for m in $(mounts_under "$ROOT"); do
    umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || true
  done
  if [ -n "$(mounts_under "$ROOT")" ]; then
    echo "check-ci-packages: still mounted, left in place: $(mounts_under "$ROOT" | tr '\n' ' ')" >&2
    return 1
  fi
}

# Removes a folder only when nothing is mounted inside it.
remove_tree() {
  [ -e "$1" ] || return 0
  if [ -n "$(mounts_under "$1")" ]; then
    echo "check-ci-packages: not removing $1, mounts inside it: $(mounts_under "$1" | tr '\n' ' ')" >&2
    return 1
  fi
  rm -rf --one-file-system "$1"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if unmount_all; then
    if [ "$KEEP" = 1 ]; then
      remove_tree "$ROOT" || true
    else
      remove_tree "$WORK" || true
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
# (bash runs these once the command in the foreground has ended; apt-get ends on Ctrl-C)
trap 'echo "check-ci-packages: interrupted" >&2; exit 130' INT
trap 'echo "check-ci-packages: stopped" >&2; exit 143' TERM

# shellcheck source=../.ci/apt-packages
source "$REPO/.ci/apt-packages"
[ "${#APT_PACKAGES[@]}" -gt 0 ] || die "no APT_PACKAGES in .ci/apt-packages"

# 1. A minimal Debian 12, kept in DIR for the next run.
if [ ! -x "$BASE/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase $SUITE into $BASE"
  remove_tree "$BASE" || exit 2
  debootstrap --variant=minbase "$SUITE" "$BASE.partial" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
    >"$WORK/debootstrap.log" 2>&1 || die "debootstrap failed, see $WORK/debootstrap.log"
  mv "$BASE.partial" "$BASE"
else
  say "reusing the minimal $SUITE in $BASE"
fi

say "fresh copy of it in $ROOT"
unmount_all || exit 2
remove_tree "$ROOT" || exit 2
cp -a "$BASE" "$ROOT"
# The machine's own Debian sources (bookworm, -updates, -security) where it has them, as on CI.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/"
  rm -f "$ROOT/etc/apt/sources.list"
fi
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No service starts inside the chroot while packages install (they would take the machine's ports).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
mkdir -p "$ARCHIVES/partial"
mount --bind "$ARCHIVES" "$ROOT/var/cache/apt/archives"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

# 2. Exactly .ci/run's list, as .ci/run installs it.
say "apt-get install --no-install-recommends ${#APT_PACKAGES[@]} packages: ${APT_PACKAGES[*]}"
in_root apt-get update -qq
INSTALL_START=$SECONDS
if ! in_root apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >"$WORK/apt-install.log" 2>&1; then
  tail -n 30 "$WORK/apt-install.log" >&2
  die "apt-get install failed (log: $WORK/apt-install.log)"
fi
say "installed in $((SECONDS - INSTALL_START))s ($(in_root dpkg-query -W -f='.' | wc -c) packages in the root)"

# 3. The checks, inside the root, on copies of the repository's own files.
CHECK=/tmp/rigtrace-check
mkdir -p "$ROOT$CHECK/repo"
(cd "$REPO" && find . \( -name node_modules -o -name .git \) -prune -o -name '*.py' -print0 |
  tar --null -T - -cf -) | tar -C "$ROOT$CHECK/repo" -xf -
mkdir -p "$ROOT$CHECK/repo/.ci" "$ROOT$CHECK/repo/deploy/bundle"
cp "$REPO/.ci/check-python-peers.py" "$ROOT$CHECK/repo/.ci/"
cp "$REPO/deploy/bundle/debian-arm64-node.sh" "$ROOT$CHECK/repo/deploy/bundle/"

cat >"$ROOT$CHECK/inside.sh" <<'INSIDE'
#!/bin/bash
# Runs inside the fresh root. One "ok"/"FAILED" line per check; the failed ones on the last line.
set -uo pipefail
C=/tmp/rigtrace-check
R=$C/repo
failed=()
pids=()
ok() { echo "   ok      $1"; }
bad() { echo "   FAILED  $1" >&2; failed+=("$1"); }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 15 s for a line matching $2 in file $1.
wait_line() { for _ in $(seq 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Every command the tests and .ci/run run.
cmds=(python3 make g++ mbpoll mosquitto mosquitto_pub mosquitto_sub psql pg_ctlcluster pg_isready
  redis-server chromium pdftotext pdftoppm systemd-analyze aarch64-linux-gnu-g++ qemu-aarch64 nginx
  caddy openssl nft ip apt-get dpkg)
absent=()
for c in "${cmds[@]}"; do command -v "$c" >/dev/null || absent+=("$c"); done
if [ ${#absent[@]} = 0 ]; then ok "${#cmds[@]} commands the tests run"; else bad "commands: ${absent[*]}"; fi

# .ci/run's Python import check.
if /usr/bin/python3 $R/.ci/check-python-peers.py $R; then ok "Python peers import"; else bad "Python imports"; fi

# A real pymodbus TCP server (the tests' own pymodbus_server.py), read with mbpoll.
/usr/bin/python3 $R/protocols/src/modbus/testing/pymodbus_server.py \
  '{"port": 0, "units": {"1": {"hr": {"0": 4242, "1": 17}}}}' >$C/pymodbus.out 2>$C/pymodbus.err &
pids+=($!)
if wait_line $C/pymodbus.out listening; then
  port=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["port"])' <$C/pymodbus.out)
  out=$(mbpoll -m tcp -a 1 -t 4 -0 -r 0 -c 2 -1 -p "$port" 127.0.0.1 2>&1)
  if grep -q '^\[0\]:[[:space:]]*4242$' <<<"$out" && grep -q '^\[1\]:[[:space:]]*17$' <<<"$out"; then
    ok "mbpoll read holding registers 0-1 (4242, 17) from pymodbus on port $port"
  else
    bad "mbpoll against pymodbus: $(tr '\n' ' ' <<<"$out")"
  fi
else
  bad "pymodbus server did not start: $(tail -n 1 $C/pymodbus.err)"
fi

# A mail through the tests' aiosmtpd sink, sent with smtplib (with AUTH, as the reminder tests do).
port=$(free_port)
/usr/bin/python3 -W ignore $R/cloud/test/helpers/smtp-sink.py --port "$port" --dir $C/mail \
  --user rt --password pw >$C/smtp.out 2>$C/smtp.err &
pids+=($!)
if wait_line $C/smtp.out READY; then
  /usr/bin/python3 - "$port" <<'PY' 2>$C/smtplib.err
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "ci@rigtrace.test", "plant@rigtrace.test", "check-ci-packages"
m.set_content("calibration due")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    s.login("rt", "pw")
    s.send_message(m)
PY
  if grep -q 'check-ci-packages' $C/mail/1.json 2>/dev/null && grep -q '"authUser": "rt"' $C/mail/1.json; then
    ok "aiosmtpd received a mail sent with smtplib (AUTH) on port $port"
  else
    bad "aiosmtpd mail: $(tail -c 400 $C/smtplib.err $C/smtp.err 2>/dev/null | tr '\n' ' ')"
  fi
else
  bad "aiosmtpd sink did not start: $(tail -n 1 $C/smtp.err)"
fi

# Mosquitto on a free port, a retained message published and read back.
port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' "$port" >$C/mosquitto.conf
mosquitto -c $C/mosquitto.conf 2>$C/mosquitto.err &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
if mosquitto_pub -h 127.0.0.1 -p "$port" -t rigtrace/check -m "reading 42.5" -r -q 1 2>$C/pub.err &&
  [ "$(mosquitto_sub -h 127.0.0.1 -p "$port" -t rigtrace/check -C 1 -W 10 2>$C/sub.err)" = "reading 42.5" ]; then
  ok "mosquitto_pub/mosquitto_sub through Mosquitto on port $port"
else
  bad "mosquitto: $(cat $C/pub.err $C/sub.err $C/mosquitto.err 2>/dev/null | tail -c 400 | tr '\n' ' ')"
fi
[ -f /etc/mosquitto/mosquitto.conf ] || bad "/etc/mosquitto/mosquitto.conf (.ci/run starts Mosquitto with it)"

# Headless Chromium renders a page (its libraries and fonts are all there).
if out=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom \
  'data:text/html,<p id=x>rigtrace</p>' 2>$C/chromium.err) && grep -q 'rigtrace' <<<"$out"; then
  ok "headless Chromium rendered a page"
else
  bad "chromium: $(tail -c 400 $C/chromium.err | tr '\n' ' ')"
fi

for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
wait 2>/dev/null

# deploy/bundle/debian-arm64-node.sh as .ci/run calls it, and its Node.js under qemu-user.
if sh $R/deploy/bundle/debian-arm64-node.sh >$C/arm64.out 2>&1; then
  out=$(qemu-aarch64 -L /opt/debian-arm64-node /opt/debian-arm64-node/usr/bin/node \
    -e 'console.log(process.arch, process.version)' 2>&1)
  if [[ $out == arm64\ v* ]]; then ok "debian-arm64-node.sh: Node.js $out under qemu-user"; else bad "arm64 node: $out"; fi
else
  bad "debian-arm64-node.sh: $(tail -c 400 $C/arm64.out | tr '\n' ' ')"
fi

if [ ${#failed[@]} -gt 0 ]; then
  { printf 'FAILED:'; printf ' [%s]' "${failed[@]}"; echo; } >$C/result
  exit 1
fi
echo ok >$C/result
INSIDE

say "checks inside the root"
status=0
in_root /bin/bash "$CHECK/inside.sh" || status=$?
result=$(cat "$ROOT$CHECK/result" 2>/dev/null || echo "FAILED: the checks did not finish (exit $status)")

if [ "$status" = 0 ] && [ "$result" = ok ]; then
  echo "check-ci-packages: PASS: ${#APT_PACKAGES[@]} packages from .ci/apt-packages on a fresh Debian 12 (minbase), all checks ok, $((SECONDS - START))s"
  exit 0
fi
echo "check-ci-packages: $result ($((SECONDS - START))s)" >&2
exit 1
