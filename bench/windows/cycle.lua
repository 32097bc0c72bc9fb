-- Uncontended cycles on Windows (run under wine by bench/windows/run.sh): one attempt that
-- takes the lock and its release, for the flock kind and soft locks, with a new lock object
-- each time and with one reused object. Prints wall nanoseconds per cycle (baton.now(),
-- QueryPerformanceCounter; on Windows os.clock() counts wall time too), the median of five
-- batches.
--   lua.exe bench/windows/cycle.lua DIR [N]
local baton = require "baton"

local dir, n = arg[1], tonumber(arg[2]) or 10000

-- Wall nanoseconds per call of fn over k calls.
local function wall(k, fn)
  local t0 = baton.now()
  for _ = 1, k do fn() end
  return (baton.now() - t0) / k * 1e9
end

-- The median of five batches of cycles/5 (after a warm-up): wine's server is shared by
-- every wine process of the prefix, and a batch that met another's traffic stands out.
local function show(name, cycles, fn)
  local batch, walls = math.max(1, math.floor(cycles / 5)), {}
  wall(math.floor(batch / 2), fn) -- warm up
  for i = 1, 5 do walls[i] = wall(batch, fn) end
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
