-- One of N contending processes: K increments of a counter file, each under the lock
-- (waiting with TIMEOUT seconds when given). With an empty LOCKPATH it does the same work
-- without any lock, timed: the cost of the work itself.
-- usage: contend.lua LOCKPATH COUNTERPATH K [TIMEOUT]
local baton = require "baton"

local path, counter, k, timeout = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local l = path ~= "" and baton.new(path, { timeout = timeout })
  or { acquire = function() end, release = function() end }
local t0 = baton.now()
for _ = 1, k do
  l:acquire()
  local f = assert(io.open(counter, "r+"))
  local v = tonumber(f:read("*a"))
  f:seek("set")
  f:write(tostring(v + 1))
  f:close()
  l:release()
end
if path == "" then print(string.format("seconds %.3f", baton.now() - t0)) end
