-- Soft lock cycle: uncontended acquire + release, baton against Python filelock's
-- SoftFileLock, in one run. Prints CPU time per cycle (user + system, as the Python
-- harness measures it) and wall time. Run from the repository root after `make`:
--
--   lua5.4 bench/soft_cycle.lua [DIR] [N] [PY_CYCLE]
--
-- DIR holds the lock files (default /tmp); N cycles per figure (default 50000); PY_CYCLE is
-- the Python harness (default ../shared/bench/py_cycle.py, skipped when missing).
package.path = arg[0]:match("^(.-)[^/]*$") .. "?.lua;" .. package.path
local common = require "common"
local baton = common.baton

local dir, n = common.args(50000)
local py_cycle = arg[3] or "../shared/bench/py_cycle.py"
local path = dir .. "/baton_soft_cycle.lock"
os.remove(path)

-- CPU and wall nanoseconds per call of fn.
local function measure(fn) return common.measure(n, 1000, fn) end

local reused = baton.new(path, { kind = "soft" })
local results = {
  { "baton soft, reused object", measure(function() reused:acquire(); reused:release() end) },
  { "baton soft, new object each time",
    measure(function() baton.soft_lock(path):release() end) },
  { "baton flock, reused object (for scale)", (function()
    local l = baton.new(path .. ".flock")
    return measure(function() l:acquire(); l:release() end)
  end)() },
}

print(string.format("%s, %s, %d cycles in %s", _VERSION, jit and jit.version or "", n, dir))
for _, r in ipairs(results) do
  print(string.format("%-42s cpu %7.0f ns/cycle   wall %7.0f ns/cycle", r[1], r[2], r[3]))
end

local f = io.open(py_cycle, "r")
if not f then
  print("(" .. py_cycle .. " not found: no Python comparison)")
  return
end
f:close()
local py = common.figures(string.format("/usr/bin/python3 %s %s/py_cycle.lock %d", py_cycle,
  dir, n), "^(.-) ns/cycle (%d+)")
local soft, soft_new = py["SoftFileLock"], py["SoftFileLock(new object each time)"]
if soft then
  print(string.format("%-42s cpu %7.0f ns/cycle", "Python SoftFileLock, reused object", soft))
  print(string.format("%-42s cpu %7.0f ns/cycle", "Python SoftFileLock, new object", soft_new))
  print(string.format("ratio (Python / baton, CPU): reused %.1fx, new object %.1fx",
    soft / results[1][2], soft_new / results[2][2]))
end
for _, suffix in ipairs({ ".FileLock", ".SoftFileLock" }) do os.remove(dir .. "/py_cycle.lock" .. suffix) end
os.remove(path)
os.remove(path .. ".flock")
