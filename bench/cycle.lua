-- Uncontended acquire+release cycles from Lua, in CPU nanoseconds per cycle (user + system,
-- as ../shared/bench/raw_flock.c and py_cycle.py measure).
-- usage: cycle.lua [LOCKPATH] [CYCLES]
local baton = require "baton"

local path = arg[1] or "/tmp/baton_cycle.lock"
local n = tonumber(arg[2]) or 200000

local function measure(name, fn)
  fn(math.floor(n / 10)) -- warm up
  collectgarbage()
  local c0 = os.clock()
  fn(n)
  print(string.format("%s ns/cycle %.0f", name, (os.clock() - c0) / n * 1e9))
end

measure("baton.lock+release(new object each time)", function(k)
  for _ = 1, k do baton.lock(path):release() end
end)
if _VERSION == "Lua 5.4" then
  measure("baton.lock <close>(new object each time)", load([[
    local baton, path = ...
    return function(k) for _ = 1, k do local l <close> = baton.lock(path) end end
  ]])(baton, path))
end
local l = baton.new(path)
measure("reused object acquire+release", function(k)
  for _ = 1, k do l:acquire(); l:release() end
end)
if _VERSION == "Lua 5.4" then
  measure("reused object local g <close> = l:acquire()", load([[
    local l = ...
    return function(k) for _ = 1, k do local g <close> = l:acquire() end end
  ]])(l))
end
local s = baton.new(path, { shared = true })
measure("reused object shared acquire+release", function(k)
  for _ = 1, k do s:acquire(); s:release() end
end)
