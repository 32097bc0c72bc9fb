#!/bin/sh
# Install what baton needs to build and test on Debian 12 (run as root), then build it.
# With --deps-only it stops after installing packages. libcurl, jansson and pkg-config build
# the optional etcd module (baton.etcd_core); etcd-server and etcd-client run its specs (they
# start their own etcd on loopback; the packaged service is not needed).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  make gcc libc6-dev util-linux procps \
  lua5.4 liblua5.4-dev lua-busted lua-check luarocks lua-luv lua-socket \
  lua5.1 liblua5.1-0-dev lua5.3 liblua5.3-dev luajit2 libluajit2-5.1-dev \
  neovim nginx-light libnginx-mod-http-lua curl \
  python3 python3-filelock sqlite3 libsqlite3-dev \
  pkg-config libcurl4-openssl-dev libjansson-dev etcd-server etcd-client \
  clang libclang-rt-14-dev valgrind >/dev/null
[ "${1:-}" = "--deps-only" ] && exit 0
cd "$(dirname "$0")/.."
make
make example
