-- A waiter for ../shared/bench/handoff.py and bench/handoff_baton.lua, speaking their line
-- protocol: "acquire" -> "acquired", "release" -> "released", "quit". It waits the way users
-- do, with a timeout (so no blocking flock), optionally through a cooperative sleep.
-- usage: waiter.lua LOCKPATH [sleep]
local baton = require "baton"

local path, mode = arg[1], arg[2]
local opts = { timeout = 60 }
if mode == "sleep" then opts.sleep = baton.sleep end
local l = baton.new(path, opts)
for line in io.lines() do
  if line == "acquire" then
    l:acquire()
    io.write("acquired\n"); io.flush()
  elseif line == "release" then
    l:release()
    io.write("released\n"); io.flush()
  else
    break
  end
end
