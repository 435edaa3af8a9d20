#!/usr/bin/env bash
# The library's stage order, checked on every include. Stages, low to high:
#   top (include/dlm/*.h, src/*.cpp) < data < model < hf < diffusion < train = generate < apps
# A file may include headers of its own stage or a lower one; train and generate are peers and neither
# includes the other. A private header (one under src/) serves its own stage folder only. No public
# header (under include/) includes CLI11: flag wiring lives with the apps. A stage folder that is not
# in the order below fails until it is given a place. Prints file:line for each violation and exits 1.
# Usage: layering.sh PROJECT_DIR
set -euo pipefail
root=${1:?usage: layering.sh PROJECT_DIR}
[ -d "$root/src" ] && [ -d "$root/include/dlm" ] || { echo "layering: no src/ and include/dlm/ in $root" >&2; exit 2; }
cd "$root"
mapfile -t files < <(find include/dlm src apps -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.inc' \) | sort)
awk '
  BEGIN {
    n = split("top data model hf diffusion train generate apps", names, " ")
    split("0 1 2 3 4 5 5 6", ranks, " ")
    for (i = 1; i <= n; i++) rank[names[i]] = ranks[i]
  }
  # The stage of a path relative to the project (include/dlm/..., src/..., apps/...).
  function stage(path,   parts, k) {
    k = split(path, parts, "/")
    if (parts[1] == "apps") return "apps"
    if (parts[1] == "include") return k == 3 ? "top" : parts[3]
    return k == 2 ? "top" : parts[2]
  }
  function dir(path) { sub(/\/[^\/]*$/, "", path); return path }
  function exists(path,   line) {
    if ((getline line < path) >= 0) { close(path); return 1 }
    return 0
  }
  function report(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg; bad = 1 }
  FNR == 1 {
    own = stage(FILENAME)
    if (!(own in rank)) report("stage folder \"" own "\" has no place in the stage order (tests/layering.sh)")
  }
  FILENAME ~ /^include\// && /^[ \t]*#[ \t]*include[ \t]*[<"]CLI\// {
    report("public header includes CLI11; flag wiring lives with the apps")
  }
  /^[ \t]*#[ \t]*include[ \t]*[<"]/ {
    header = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", header); sub(/[>"].*$/, "", header)
    if (header ~ /^dlm\//) target = "include/" header
    else if (exists(dir(FILENAME) "/" header)) target = dir(FILENAME) "/" header
    else if (exists("src/" header)) target = "src/" header
    else next  # a system or third-party header
    to = stage(target)
    if (!(to in rank)) { report("includes " header " of stage \"" to "\", which has no place in the stage order"); next }
    if (rank[to] > rank[own]) report("stage " own " includes " header " of the higher stage " to)
    else if (rank[to] == rank[own] && to != own) report("stage " own " includes " header " of its peer " to)
    else if (target ~ /^src\// && to != own) report("includes " header ", a private header of stage " to)
  }
  END { exit bad }' "${files[@]}" || exit 1
echo "layering: ${#files[@]} files follow the stage order top < data < model < hf < diffusion < train, generate < apps"
