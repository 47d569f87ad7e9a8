#!/usr/bin/env bash
# Installs what cleanstream needs and is missing, so that the README's two commands work on a fresh Debian machine
# with only Node and npm: npm dependencies (npm ci when node_modules is missing or older than the lock file), and
# Debian packages (apt-get when running as root; otherwise it prints the one command to run and fails).
#   deploy/bootstrap.sh          what `cleanstream up` needs (influxd)
#   deploy/bootstrap.sh --test   what the test suite needs too (mosquitto, nats-server, pymodbus, mbpoll, chromium, socat, and what
#                                builds Mosquitto's guard plugin: mosquitto-dev, libmosquitto-dev, gcc, make)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# command -> Debian package
declare -A needed=([influxd]=influxdb)
if [ $want_test = 1 ]; then
  needed[mosquitto]=mosquitto
  needed[mosquitto_pub]=mosquitto-clients
  needed[mbpoll]=mbpoll
  needed[chromium]=chromium
  # Modbus RTU tests join the driver and a serial server through a pseudo-terminal pair.
  needed[socat]=socat
  # The NATS JetStream transport's tests run a 3-node cluster (test/harness/nats.ts).
  needed[nats-server]=nats-server
  # The tests build deploy/mosquitto/plugin/ (test/harness/mosquitto.ts).
  needed[cc]=gcc
  needed[make]=make
fi

missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${needed[$cmd]}")
done
# pymodbus's servers import pyserial and serial_asyncio (even the TCP one): Debian only recommends them, and we install without recommends.
if [ $want_test = 1 ] && ! /usr/bin/python3 -c 'import pymodbus.server' >/dev/null 2>&1; then
  missing+=(python3-pymodbus python3-serial-asyncio)
fi
# Headers for the Mosquitto guard plugin: the plugin API (mosquitto-dev), its error and log codes (libmosquitto-dev),
# and libc's (libc6-dev: gcc only recommends it, and we install without recommends).
if [ $want_test = 1 ]; then
  declare -A headers=([mosquitto_plugin.h]=mosquitto-dev [mosquitto.h]=libmosquitto-dev [stdio.h]=libc6-dev)
  for h in "${!headers[@]}"; do
    [ -f "/usr/include/$h" ] || missing+=("${headers[$h]}")
  done
fi
# Browser tests screenshot Chinese pages: without a CJK font they render as boxes.
if [ $want_test = 1 ] && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  missing+=(fonts-noto-cjk)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's packages start system services; cleanstream starts its own servers on free ports, so stop them.
    for svc in influxdb mosquitto; do
      if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
    done
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run as root:  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
