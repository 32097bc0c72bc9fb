# Sourced by run.sh: soft locks where creating or breaking the marker meets a fault.
echo "== soft lock faults"
faultpeer() { onwine "$lua" spec/windows/softfault_peer.lua "$@"; }
mkdir -p "$dir/many"
check "a soft lock that runs out of descriptors fails and leaves no marker naming it" \
  "$(faultpeer exhaust "$dir/many")" "EMFILE	gone"
mkdir -p "$dir/folder.lock"
check "a soft lock on a folder is refused: it is a directory" \
  "$(faultpeer try "$dir/folder.lock" | cut -d' ' -f1)" EISDIR
check "a marker naming a pid past 32 bits is never taken for another's" \
  "$(faultpeer bigpid "$dir/bigpid.lock")" busy
