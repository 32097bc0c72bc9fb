-- One of N contending processes: K increments of a counter file, each under the lock
-- (waiting with TIMEOUT seconds when given). With an empty LOCKPATH it does the same work
-- without any lock, timed: the cost of the work itself.
-- usage: contend.lua LOCKPATH COUNTERPATH K [TIMEOUT], with spec/ on the module path (as
-- `make bench` sets it) for the increment the specs' peers make too (spec/helpers/counter.lua)
local baton = require "baton"
local bump = require("helpers.counter").bump

local path, counter, k, timeout = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local l = path ~= "" and baton.new(path, { timeout = timeout })
  or { acquire = function() end, release = function() end }
local t0 = baton.now()
for _ = 1, k do
  l:acquire()
  bump(counter)
  l:release()
end
if path == "" then print(string.format("seconds %.3f", baton.now() - t0)) end
