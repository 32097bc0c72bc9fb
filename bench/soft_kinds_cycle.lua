-- Soft lock kinds' cycles: uncontended acquire + release of a plain soft lock, a lease, a
-- strict claim and a soft read/write lock's read and write, baton against Python filelock
-- 3.32's SoftFileLock, SoftFileLease, StrictSoftFileLock and SoftReadWriteLock, in one run.
-- CPU time per cycle (user + system). Run from the repository root after `make`:
--
--   lua5.4 bench/soft_kinds_cycle.lua [DIR] [N] [FILELOCK_SRC]
--
-- DIR holds the lock files (default /tmp); N cycles per figure (default 5000); FILELOCK_SRC
-- is filelock 3.32's source folder (default $BATON_FILELOCK32, else
-- ../shared/peers/filelock-3.32.3/src beside the project's tree).
package.path = arg[0]:match("^(.-)[^/]*$") .. "?.lua;" .. package.path
local common = require "common"
local baton = common.baton

local dir, n = common.args(5000)
local src = arg[3] or os.getenv("BATON_FILELOCK32")
  or (os.getenv("BATON_ROOT") or ".") .. "/../shared/peers/filelock-3.32.3/src"
local path = dir .. "/baton_kinds_cycle.lock"

-- CPU nanoseconds per acquire + release of a lock with `opts`.
local function cycle(opts)
  local l = baton.new(path, opts)
  return (common.measure(n, 200, function() l:acquire(); l:release() end))
end

local ours = {
  soft = cycle({ kind = "soft" }),
  lease = cycle({ kind = "soft", lease = 30 }),
  strict = cycle({ kind = "soft", strict = true }),
  ["rw-read"] = cycle({ kind = "soft_rw", shared = true }),
  ["rw-write"] = cycle({ kind = "soft_rw" }),
}
os.execute("rm -rf '" .. path .. "' '" .. path .. ".filelock' '" .. path .. ".state' '" .. path
  .. ".readers'")

local PY = [[
import sys, time
sys.path.insert(0, sys.argv[1])
import filelock
path, n = sys.argv[2], int(sys.argv[3])
rw = filelock.SoftReadWriteLock(path + ".rw")
for name, make, take in (("soft", lambda: filelock.SoftFileLock(path), "acquire"),
                         ("lease", lambda: filelock.SoftFileLease(path, lease_duration=30), "acquire"),
                         ("strict", lambda: filelock.StrictSoftFileLock(path), "acquire"),
                         ("rw-read", lambda: rw, "acquire_read"),
                         ("rw-write", lambda: rw, "acquire_write")):
    l = make()
    acquire = getattr(l, take)
    for _ in range(min(n, 200)):
        acquire(); l.release()
    t = time.process_time()
    for _ in range(n):
        acquire(); l.release()
    print(name, int((time.process_time() - t) / n * 1e9))
]]
local py = {}
local f = io.open(src .. "/filelock/_strict.py", "r")
if f then
  f:close()
  local script = os.tmpname()
  local w = assert(io.open(script, "w"))
  w:write(PY)
  w:close()
  py = common.figures(string.format("/usr/bin/python3 %s '%s' '%s.py' %d", script, src, path,
    n), "^([%a-]+) (%d+)")
  os.remove(script)
  os.execute("rm -rf '" .. path .. ".py' '" .. path .. ".py.filelock' '" .. path .. ".py.rw'*")
end

print(string.format("%s, %d cycles in %s (CPU ns per cycle)", _VERSION, n, dir))
print(string.format("%-8s %10s %16s %8s", "kind", "baton", "filelock 3.32", "ratio"))
for _, k in ipairs({ "soft", "lease", "strict", "rw-read", "rw-write" }) do
  local theirs = py[k]
  print(string.format("%-8s %10.0f %16s %8s", k, ours[k], theirs and tostring(theirs) or "-",
    theirs and string.format("%.1fx", theirs / ours[k]) or "-"))
end
