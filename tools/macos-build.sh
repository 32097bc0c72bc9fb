#!/bin/sh
# Cross-build baton for macOS on each ARCH given (arm64, x86_64) and check that the module
# and the executable are Mach-O files for that architecture. Fetches what it needs the first
# time (tools/macos-deps.sh, through make PLATFORM=macos).
set -eu
cd "$(dirname "$0")/.."
for arch in "$@"; do
  make --no-print-directory PLATFORM=macos ARCH="$arch"
  want=$(case $arch in arm64) echo arm64 ;; *) echo x86_64 ;; esac)
  for f in "build/macos-$arch/baton/core.so" "build/macos-$arch/bin/baton"; do
    kind=$(file -b "$f")
    echo "$f: $kind"
    case $kind in
      "Mach-O 64-bit $want"*) ;;
      *) echo "macos-build: $f is not a Mach-O $want file" >&2; exit 1 ;;
    esac
  done
done
