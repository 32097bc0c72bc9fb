-- Uncontended cycles on Windows (run under wine by bench/windows/run.sh): one attempt that
-- takes the lock and its release, for the flock kind and soft locks, with a new lock object
-- each time and with one reused object. Prints wall nanoseconds per cycle (baton.now(),
-- QueryPerformanceCounter; on Windows os.clock() counts wall time too), the median of five
-- batches.
--   lua.exe bench/windows/cycle.lua DIR [N]
package.path = arg[0]:match("^(.-)[^/\\]*$") .. "../?.lua;" .. package.path
local common = require "common"
local baton = common.baton

local dir, n = common.args(20000)

-- The median of five batches of cycles/5 (after a warm-up): wine's server is shared by
-- every wine process of the prefix, and a batch that met another's traffic stands out.
local function show(name, cycles, fn)
  local batch, walls = math.max(1, math.floor(cycles / 5)), {}
  for i = 1, 5 do
    local _, wall = common.measure(batch, i == 1 and math.floor(batch / 2) or 0, fn)
    walls[i] = wall
  end
  table.sort(walls)
  print(string.format("%-44s %9.0f ns/cycle (batches %.0f to %.0f)", name, walls[3], walls[1],
    walls[5]))
end

local function cycles_of(kind, cycles)
  local path = dir .. "/cycle." .. kind
  os.remove(path)
  local o = { kind = kind }
  show(kind .. ": try_lock + release, new object", cycles, function()
    assert(baton.try_lock(path, o)):release()
  end)
  local l = baton.new(path, o)
  show(kind .. ": try_acquire + release, reused object", cycles, function()
    assert(l:try_acquire()); l:release()
  end)
end

cycles_of("flock", n)
cycles_of("soft", math.max(1, math.floor(n / 10))) -- a marker made and deleted: slower
