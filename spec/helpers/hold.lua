-- A peer that takes a lock, says so, holds it for a while and lets it go.
--   lua hold.lua KIND PATH SECONDS READY [N]
-- KIND as in probe.lua (flock, flock-shared, soft, rw-read, rw-write, sem with N slots), or
-- file / file-fcntl (baton.lock_file on a handle it opens).
-- Writes its pid to READY once it holds the lock; releases after SECONDS.
local baton = require "baton"

local kind, path, seconds, ready, n = arg[1], arg[2], tonumber(arg[3]), arg[4], tonumber(arg[5])

local takes = {
  flock = function() return baton.lock(path) end,
  ["flock-shared"] = function() return baton.lock(path, { shared = true }) end,
  file = function() return baton.lock_file(assert(io.open(path, "w"))) end,
  ["file-fcntl"] = function() return baton.lock_file(assert(io.open(path, "w")), { api = "fcntl" }) end,
  soft = function() return baton.soft_lock(path) end,
  ["soft-lease"] = function() return baton.soft_lock(path, { lease = 0.5 }) end,
  ["soft-strict"] = function() return baton.soft_lock(path, { strict = true }) end,
  ["rw-read"] = function() return baton.rwlock(path):read() end,
  ["softrw-write"] = function() return baton.rwlock(path, { soft = true }):write() end,
  ["rw-write"] = function() return baton.rwlock(path):write() end,
  sem = function() return baton.semaphore(path, n or 1):acquire() end,
}

local held = assert(takes[kind], "hold.lua: unknown kind " .. tostring(kind))()
local f = assert(io.open(ready .. ".tmp", "w"))
local stat = assert(io.open("/proc/self/stat"))
f:write(stat:read("*l"):match("^%d+"))
stat:close()
f:close()
os.rename(ready .. ".tmp", ready)
baton.sleep(seconds)
held:release()
