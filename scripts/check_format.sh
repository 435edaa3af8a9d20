#!/usr/bin/env bash
# Checks that every tracked C++ file (*.cpp, *.h; the generated *.inc tables are data) is formatted as
# .clang-format says, with Debian 12's clang-format 14: other versions format some constructs differently,
# so another version is refused rather than trusted. Prints each file's first difference and exits 1 when
# one is off; `clang-format -i FILE` fixes it. The test command runs it first (phase "format").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_packages.sh clang-format
version=$(clang-format --version)
case "$version" in
  *" version 14."*) ;;
  *) echo "check_format: needs clang-format 14 (Debian 12's), found: $version" >&2; exit 2 ;;
esac
mapfile -t files < <(git ls-files '*.cpp' '*.h')
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "check_format: the files above are not formatted as .clang-format says; fix with clang-format -i FILE" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
