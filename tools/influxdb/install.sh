#!/usr/bin/env bash
# Installs InfluxDB for the learning store's tests: Debian's `influxdb` package (1.6.7, the v1
# HTTP API: /write with line protocol, /query with InfluxQL). Idempotent: does nothing when
# `influxd` is already on the PATH. The tests start their own `influxd` processes on free
# loopback ports (tests/influx_server.py), so no system service is left running.
set -euo pipefail

if ! command -v influxd >/dev/null 2>&1; then
  echo "installing Debian package: influxdb"
  if [ "$(id -u)" -ne 0 ]; then
    echo "influxd is missing and installing it needs root: run 'apt-get install influxdb'" >&2
    exit 1
  fi
  # policy-rc.d exit 101: dpkg must not start the service while installing
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
fi

# No system service: stop and disable it where an init system manages it.
if [ "$(id -u)" -eq 0 ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now influxdb >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/influxdb ]; then
    /etc/init.d/influxdb stop >/dev/null 2>&1 || true
  fi
fi
if pids=$(pgrep -x influxd -u influxdb 2>/dev/null); then
  echo "warning: a system influxd is running (pids: $pids); the tests start their own" >&2
fi

influxd version
