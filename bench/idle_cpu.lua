-- CPU a waiter uses while a lock stays held: a holder process keeps the lock for SECONDS and
-- this process waits for it (with a timeout, the ordinary way). Prints CPU seconds used and
-- the share of one core.
-- usage: idle_cpu.lua LOCKPATH [SECONDS]
local baton = require "baton"

local path, seconds = arg[1], tonumber(arg[2]) or 10
local ready = path .. ".ready"
os.remove(ready)
os.execute(string.format([[%s -e 'local b = require "baton"; local l = b.lock(%q); io.open(%q, "w"):close(); b.sleep(%s)' &]],
  arg[-1] or "lua5.4", path, ready, seconds))
while not io.open(ready) do baton.sleep(0.01) end
os.remove(ready)
local c0, t0 = os.clock(), baton.now()
local l = baton.lock(path, { timeout = seconds * 3 })
local cpu, wall = os.clock() - c0, baton.now() - t0
l:release()
print(string.format("waited_s %.2f cpu_s %.4f core_share_pct %.3f", wall, cpu, cpu / wall * 100))
