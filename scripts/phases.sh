# Times the phases of the setup and test scripts and prints them as one table when the outermost
# script exits (also on failure), so that a slow CI run says where its time went.
#   . scripts/phases.sh; phase "build (1.13)" cmake --build build
# Scripts started by a phase append to the same table: the first script to source this file owns it.
# A phase runs a command or script, never a shell function (set -e does not reach inside a function
# called from a condition).
if [ -z "${DLM_PHASES:-}" ]; then
  DLM_PHASES=$(mktemp)
  DLM_PHASES_OWNER=$$
  DLM_PHASES_START=$SECONDS
  export DLM_PHASES
  trap 'phases_table' EXIT
fi

phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  phase_record "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] && echo ok || echo "failed ($rc)")"
  return $rc
}

# phase_record NAME SECONDS STATUS: a phase timed by its caller (a loop rather than one command).
phase_record() { printf '%s\t%d\t%s\n' "$1" "$2" "$3" >> "$DLM_PHASES"; }

phases_table() {
  local rc=$? total=0 name seconds status
  [ "${DLM_PHASES_OWNER:-}" = "$$" ] || return $rc
  echo
  echo "== phases =="
  printf '%-28s %8s  %s\n' phase seconds status
  while IFS=$'\t' read -r name seconds status; do
    printf '%-28s %8d  %s\n' "$name" "$seconds" "$status"
    total=$((total + seconds))
  done < "$DLM_PHASES"
  printf '%-28s %8d\n' "sum of the phases" "$total"
  printf '%-28s %8d\n' "wall time" $((SECONDS - DLM_PHASES_START))
  rm -f "$DLM_PHASES"
  return $rc
}
