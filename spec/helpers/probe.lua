-- A third process that looks whether a lock is free: one attempt, released at once.
--   lua probe.lua KIND PATH [N]
-- KIND: flock (exclusive), flock-shared, fcntl (an exclusive OFD lock), soft, soft-lease,
-- soft-strict, rw-read, rw-write, sem (N slots).
-- Prints "free", "busy", or "error CODE MESSAGE"; exits 0 unless misused.
local baton = require "baton"

local kind, path, n = arg[1], arg[2], tonumber(arg[3])

local attempts = {
  flock = function() return baton.try_lock(path) end,
  ["flock-shared"] = function() return baton.try_lock(path, { shared = true }) end,
  fcntl = function() return baton.try_lock(path, { api = "fcntl" }) end,
  soft = function() return baton.try_lock(path, { kind = "soft" }) end,
  ["soft-lease"] = function() return baton.try_lock(path, { kind = "soft", lease = 0.5 }) end,
  ["soft-strict"] = function() return baton.try_lock(path, { kind = "soft", strict = true }) end,
  ["rw-read"] = function() return baton.rwlock(path):try_read() end,
  ["softrw-read"] = function() return baton.rwlock(path, { soft = true }):try_read() end,
  ["softrw-write"] = function() return baton.rwlock(path, { soft = true }):try_write() end,
  ["rw-write"] = function() return baton.rwlock(path):try_write() end,
  sem = function() return baton.semaphore(path, n or 1):try_acquire() end,
}

local attempt = assert(attempts[kind], "probe.lua: unknown kind " .. tostring(kind))
local got, msg, code = attempt()
if got then
  got:release()
  print("free")
elseif code == "busy" then
  print("busy")
else
  print("error " .. tostring(code) .. " " .. tostring(msg))
end
