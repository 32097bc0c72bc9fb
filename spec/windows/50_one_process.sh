# Sourced by run.sh: what holds inside one process.
echo "== one process"
check "two lock objects of one process exclude each other; a wait for the other without a deadline fails at once" "$(peer objects "$lock")" "busy never ok"
check "baton.spawn's detach says it is not on Windows" \
  "$(onwine "$lua" -e 'local ok, e = pcall(require("baton").spawn, {"cmd", detach = true}); print(e)')" \
  "baton.spawn's option 'detach' is not available on Windows yet"

