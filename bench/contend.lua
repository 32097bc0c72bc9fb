-- One of N contending processes: K increments of a counter file, each under the lock.
-- usage: contend.lua LOCKPATH COUNTERPATH K
local baton = require "baton"

local path, counter, k = arg[1], arg[2], tonumber(arg[3])
local l = baton.new(path)
for _ = 1, k do
  l:acquire()
  local f = assert(io.open(counter, "r+"))
  local v = tonumber(f:read("*a"))
  f:seek("set")
  f:write(tostring(v + 1))
  f:close()
  l:release()
end
