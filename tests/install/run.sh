#!/usr/bin/env bash
# Installs the SDK from BUILD_DIR into a temporary prefix, then builds and runs a consumer
# project against it twice: with find_package(CanalClient) and with pkg-config canal-client.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/canal/client/canal_connector.h include/canal/protocol/entry_protocol.pb.h; do
  [ -f "$prefix/$f" ] || { echo "missing $f"; exit 1; }
done
ls "$prefix"/lib*/libcanal_client.a "$prefix"/lib*/cmake/CanalClient/CanalClientConfig.cmake \
  "$prefix"/lib*/pkgconfig/canal-client.pc >/dev/null

cmake -S "$here/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/cmake-build" -j2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/cmake-build/consumer"

pcdir=$(dirname "$(ls "$prefix"/lib*/pkgconfig/canal-client.pc)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs canal-client)
c++ -std=c++20 "$here/consumer/main.cpp" -o "$work/pc-consumer" $flags
"$work/pc-consumer"
echo "install: find_package and pkg-config consumers built and ran"
