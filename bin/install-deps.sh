#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package canal-cpp needs to build and test that is not
# installed yet. Idempotent; prints nothing when everything is present.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ccache pkg-config git
  # libraries
  libboost-dev libboost-system-dev
  libprotobuf-dev protobuf-compiler
  libzookeeper-mt-dev
  default-libmysqlclient-dev
  librocksdb-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  librdkafka-dev
  libzstd-dev liblz4-dev
  nlohmann-json3-dev
  zlib1g-dev libdeflate-dev
  libssl-dev
  libpcre2-dev
  libyaml-cpp-dev libcurl4-openssl-dev
  libhiredis-dev librabbitmq-dev libpq-dev
  # fuzzing (clang + libFuzzer runtime)
  clang libclang-rt-14-dev
  # servers started by the tests and the quickstart
  mariadb-server mariadb-client
  zookeeper
  redis-server redis-tools
  rabbitmq-server
  postgresql
  # the web console's tests: a real headless browser driven by Selenium (Debian's Python)
  chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Package lists may be absent on a fresh machine or stale; refresh them once.
$sudo apt-get update -qq >/dev/null
# Debian's mariadb-server postinst starts a system server; policy-rc.d keeps services from starting
# (the tests and the quickstart start their own servers in temporary directories).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
