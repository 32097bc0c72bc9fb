#!/bin/sh
# Run each libFuzzer target for FUZZ_SECONDS seconds from its seed corpus, then print one
# line of figures per target. Usage: sh fuzz/run.sh BUILD_DIR SECONDS TARGET...
# New inputs go to BUILD_DIR/corpus/TARGET (the committed seeds in fuzz/corpus/ are only
# read); a crashing input is kept as BUILD_DIR/crash-TARGET-*. Exits non-zero on a crash.
set -u
build=$1
seconds=$2
shift 2
status=0
summary=""
for t in "$@"; do
  mkdir -p "$build/corpus/$t"
  set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crash-$t-"
  [ -f "fuzz/dict/$t.dict" ] && set -- "$@" -dict="fuzz/dict/$t.dict"
  # a record table is 32 KiB; the header and the first 31 slots are enough to reach it all
  [ "$t" = record ] && set -- "$@" -max_len=8192
  [ "$t" != record ] && set -- "$@" -max_len=4096
  log="$build/$t.log"
  echo "== fuzz_$t: $seconds s"
  if "$build/fuzz_$t" "$@" "$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    tail -n 40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\).*/\1/p' "$log")
  seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
  corpus=$(find "$build/corpus/$t" "fuzz/corpus/$t" -type f | wc -l)
  summary="$summary$(printf '%-8s %-6s runs=%s edges=%s seeds=%s corpus=%s' "$t" "$result" \
    "${runs:-?}" "${cov:-?}" "$seeds" "$corpus")
"
done
printf '\n%s' "$summary"
exit $status
