#!/usr/bin/env bash
# Builds the Debian package from this tree: tools/build-deb.sh OUTDIR
# The tree is copied to OUTDIR/src/udpx-VERSION first, so that neither the source tree nor its
# parent gets the build's files (dpkg-buildpackage writes the .deb next to the tree it builds);
# OUTDIR ends with udpx_VERSION_ARCH.deb (and its .buildinfo/.changes). Needs the packages of
# `tools/install-deps.sh deb`. ccache is used when installed (the copy's path stays the same, so
# a rebuild mostly hits the cache).
set -euo pipefail

out=${1:?usage: build-deb.sh OUTDIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/src/udpx-$version"

rm -rf "$out/src"
mkdir -p "$src"
# What git tracks plus new files not ignored; without git (a tarball), everything but the builds.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
     [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -C "$src" -xf -
else
  tar -C "$repo" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$src" -xf -
fi

rm -f "$out"/udpx_*.deb "$out"/udpx_*.buildinfo "$out"/udpx_*.changes
export UDPX_CMAKE_ARGS=""
command -v ccache >/dev/null && UDPX_CMAKE_ARGS="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}"
(cd "$src" && dpkg-buildpackage -us -uc -b)
ls "$out"/udpx_*.deb
