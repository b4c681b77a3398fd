#!/bin/sh
# Leaves native modules with their compiled .node files only: no object files, static archives,
# makefiles or C/C++ sources of their build reach the runtime image. Run in the build stage after
# `npm prune --omit=dev`; argument: the node_modules folder.
set -eu
modules="${1:-node_modules}"
find "$modules" -type d -name build -path '*/build' -prune | while read -r build; do
  [ -d "$build/Release" ] || continue
  pkg=$(dirname "$build")
  [ -f "$pkg/binding.gyp" ] || continue          # only node-gyp builds
  rm -rf "$build/Release/obj.target" "$build/Release/obj" "$build/Release/.deps" "$build/deps"
  find "$build" -type f ! -name '*.node' -delete
  find "$build" -depth -type d -empty -delete
  rm -rf "$pkg/deps" "$pkg/src"                    # the sources it was compiled from
  find "$pkg" -path "$pkg/node_modules" -prune -o -type f \( -name '*.mk' -o -name '*.Makefile' -o -name Makefile -o -name '*.o' -o -name '*.a' \) -print | xargs -r rm -f
  find "$pkg" -path "$pkg/node_modules" -prune -o -depth -type d -empty -print | xargs -r rmdir
done
