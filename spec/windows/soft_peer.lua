-- A peer for spec/windows/25_soft_lease.sh and 40_holder.sh, run under wine as
-- `lua.exe soft_peer.lua MODE PATH ...`; each mode prints what happened on one line.
--   lease_hold PATH READY GO LEASE [HEARTBEAT]  take a soft lease, write this process's pid
--                        into READY, hold until GO exists: "released", or "lost REASON" (on_lost
--                        told it) and what its release returned
--   lease_try PATH LEASE  one attempt at the lease: "ok", or the code
--   lease_wait PATH LEASE TIMEOUT  a wait for the lease: "ok" and the seconds waited, or the code
--   break PATH            baton.break_lock: "broke PID", or "refused CODE"
--   flock_hold PATH READY GO NOTE  a flock lock with a note, its pid into READY, held until GO
--   soft_hold PATH READY GO NOTE   the same with a plain soft lock
--   strict_hold PATH READY GO  a strict soft lock, its pid into READY, held until GO exists
--   strict_try PATH       one attempt at a strict soft lock: "ok", or the code
--   strict_holder PATH    baton.holder on a strict lock: "free", or "KIND PID strict|plain"
--   rw_hold PATH READY GO MODE  a soft read/write lock's side MODE ("read" or "write"), its
--                        pid into READY, held until GO exists
--   rw_try PATH MODE [TIMEOUT]  one attempt (or a wait) for that side: "ok", or the code;
--                        rw_hold prints "lost" instead of "released" when its lock was lost
--   rw_holder PATH        baton.holder on a soft read/write lock: "free", or "KIND PID MODE"
--   holder PATH           baton.holder: "free", or "KIND PID NOTE|- CMDLINE?|- STARTED?|-"
--   unknown PATH          what baton.holder says it cannot tell about this process's flock
--                         lock on PATH (its first item), and core.platform.lock_table
local baton = require "baton"

local mode, path = arg[1], arg[2]

local files = require "peer_files"
local exists = files.exists

-- This process's pid, as its own soft marker names it.
local function own_pid(beside)
  local me = baton.soft_lock(beside)
  local f = assert(io.open(beside, "rb"))
  local pid = f:read("l")
  f:close()
  me:release()
  return pid
end

-- Write this process's pid into `ready` (whole once it has its name).
local function ready(name)
  local pid = own_pid(name .. ".me")
  local f = assert(io.open(name .. ".part", "wb"))
  f:write(pid, "\n")
  f:close()
  assert(os.rename(name .. ".part", name))
end

local function hold_until(go)
  while not exists(go) do baton.sleep(0.01) end
end

if mode == "lease_hold" then
  local lost
  local l = baton.soft_lock(path, { lease = tonumber(arg[5]), heartbeat = tonumber(arg[6]),
    on_lost = function(info) lost = info.reason end })
  ready(arg[3])
  hold_until(arg[4])
  local held = l:is_locked()
  local ok, _, code = l:release()
  if lost then
    print("lost " .. lost .. " " .. tostring(held) .. " " .. tostring(ok) .. " " .. tostring(code))
  else
    print(held and "released" or "not held")
  end
elseif mode == "lease_try" then
  local l, _, code = baton.try_lock(path, { kind = "soft", lease = tonumber(arg[3]) })
  print(l and "ok" or code)
  if l then l:release() end
elseif mode == "lease_wait" then
  local t0 = baton.now()
  local l, _, code = baton.try_lock(path, { kind = "soft", lease = tonumber(arg[3]),
    timeout = tonumber(arg[4]) })
  print(l and "ok" or code, string.format("%.1f", baton.now() - t0))
  if l then l:release() end
elseif mode == "break" then
  local who, _, code = baton.break_lock(path)
  print(who and ("broke " .. tostring(who.pid)) or ("refused " .. tostring(code)))
elseif mode == "flock_hold" or mode == "soft_hold" then
  local take = mode == "flock_hold" and baton.lock or baton.soft_lock
  local l = take(path, { note = arg[5] })
  ready(arg[3])
  hold_until(arg[4])
  l:release()
  print("released")
elseif mode == "strict_hold" then
  local l = baton.soft_lock(path, { strict = true })
  ready(arg[3])
  hold_until(arg[4])
  l:release()
  print("released")
elseif mode == "strict_try" then
  local l, _, code = baton.try_lock(path, { kind = "soft", strict = true })
  print(l and "ok" or code)
  if l then l:release() end
elseif mode == "strict_holder" then
  local h = baton.holder(path)
  print(h and (h.kind .. " " .. tostring(h.pid) .. " " .. (h.strict and "strict" or "plain")) or "free")
elseif mode == "rw_hold" then
  local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
  local g = arg[5] == "read" and rw:read() or rw:write()
  ready(arg[3])
  hold_until(arg[4])
  local _, _, code = g:release()
  print(code or "released")
elseif mode == "rw_try" then
  -- the stale threshold is the contender's: three heartbeats, 0.6 s
  local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
  local g, _, code
  local o = arg[4] and { timeout = tonumber(arg[4]) } or nil
  if arg[3] == "read" then g, _, code = rw:try_read(o) else g, _, code = rw:try_write(o) end
  print(g and "ok" or code)
  if g then g:release() end
elseif mode == "rw_holder" then
  local h = baton.holder(path)
  print(h and (h.kind .. " " .. tostring(h.pid) .. " " .. tostring(h.mode)) or "free")
elseif mode == "holder" then
  local h, msg = baton.holder(path)
  if not h then
    print(msg and ("error " .. msg) or "free")
  else
    print(table.concat({ h.kind, tostring(h.pid), h.note or "-",
      h.cmdline and h.cmdline:find("soft_peer.lua", 1, true) and "cmdline" or "-",
      h.started and "started" or "-" }, " "))
  end
elseif mode == "unknown" then
  local l = baton.lock(path)
  local h = baton.holder(path)
  l:release()
  print(h and h.unknown and h.unknown[1] or "nothing unknown", require("baton.core").platform.lock_table)
else
  error("soft_peer.lua: unknown mode " .. tostring(mode))
end
