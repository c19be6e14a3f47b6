#!/usr/bin/env bash
# Runs make targets in order as the stages of a larger target, and prints how
# long each took (also when one fails, marking it). Used by `make test`.
set -u
make=${MAKE:-make}
names=() secs=() status=0 start=$(date +%s)
table() {
  echo
  echo "== stage timings =="
  for i in "${!names[@]}"; do
    printf '  %-16s %4dm%02ds\n' "${names[$i]}" $((secs[$i] / 60)) $((secs[$i] % 60))
  done
  local total=$(($(date +%s) - start))
  printf '  %-16s %4dm%02ds\n' total $((total / 60)) $((total % 60))
}
for stage in "$@"; do
  echo "== stage: $stage =="
  t0=$(date +%s)
  if "$make" --no-print-directory "$stage"; then
    names+=("$stage")
  else
    status=$?
    names+=("$stage FAILED")
  fi
  secs+=($(($(date +%s) - t0)))
  [ "$status" -eq 0 ] || break
done
table
exit "$status"
