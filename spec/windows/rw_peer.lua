-- A peer for spec/windows/30_rw.sh and 35_semaphore.sh, run under wine as
-- `lua.exe rw_peer.lua MODE PATH ...`: each mode takes or tries a read/write lock or a
-- semaphore slot and prints what happened on one line. HOW is "read" or "write"; "@U" in
-- PATH is replaced by a name that is not ASCII (läskö, in UTF-8).
--   hold PATH HOW READY GO          take it, create READY, hold until GO exists, release
--   try PATH HOW                    one attempt: "ok", or the failure's code ("busy")
--   wait PATH HOW SECONDS [STARTED] a wait with a timeout (STARTED created as it begins):
--                                   its code or "ok", and the seconds it waited
--   close PATH                      a write guard in a <close> scope: another object is kept
--                                   out inside it ("busy") and let in after it ("ok")
--   objects PATH                    two read/write lock objects of this process: a write on
--                                   one is kept out by the other's read, and a wait for it
--                                   without a deadline fails at once ("busy never ok")
--   cycles PATH N                   µs per read cycle and per write cycle, N of each
--   remove PATH                     try to delete PATH, then to rename it away: "kept" when
--                                   both failed and it is still there
--   sem_hold PATH N READY GO        as hold, for a slot of a semaphore of N slots: its slot
--   sem_try PATH N                  one attempt: "ok SLOT", or the code
--   sem_wait PATH N SECONDS [STARTED]  as wait, for a slot
--   sem_close PATH N                every slot taken in <close> scopes: busy inside, ok after
--   sem_cycles PATH N COUNT         µs per acquire+release of a free semaphore of N slots
local baton = require "baton"

local mode, path = arg[1], arg[2]
-- lua.exe's arguments come in the ANSI code page: "@U" in PATH stands for a UTF-8 name
path = path and path:gsub("@U", "l\195\164sk\195\182")

local files = require "peer_files"
local exists = files.exists
local touch = files.touch

local function take(how, opts)
  local rw = baton.rwlock(path)
  if how == "write" then return rw:try_write(opts) end
  return rw:try_read(opts)
end

local function hold_until(g, ready, go)
  touch(ready)
  while not exists(go) do baton.sleep(0.01) end
  g:release()
  print("released")
end

if mode == "hold" then
  local rw = baton.rwlock(path)
  hold_until(arg[3] == "write" and rw:write() or rw:read(), arg[4], arg[5])
elseif mode == "try" then
  local g, _, code = take(arg[3])
  print(g and "ok" or code)
  if g then g:release() end
elseif mode == "wait" then
  if arg[5] then touch(arg[5]) end
  local t0 = baton.now()
  local g, _, code = take(arg[3], { timeout = tonumber(arg[4]) })
  print(g and "ok" or code, string.format("%.3f", baton.now() - t0))
  if g then g:release() end
elseif mode == "close" then
  local other = baton.rwlock(path)
  local inside
  do
    local _ <close> = baton.rwlock(path):write()
    local g, _, code = other:try_write()
    inside = g and "ok" or code
    if g then g:release() end
  end
  local g, _, code = other:try_write()
  print(inside .. " " .. (g and "ok" or code))
  if g then g:release() end
elseif mode == "objects" then
  local r = baton.rwlock(path):read()
  local other = baton.rwlock(path)
  local g, _, code = other:try_write()
  local t0 = baton.now()
  local ok, err = pcall(other.write, other)
  local never = not ok and err:find("could never end", 1, true) and baton.now() - t0 < 1
  r:release()
  local w = other:try_write()
  print((g and "ok" or code) .. " " .. (never and "never" or tostring(err)) .. " " .. (w and "ok" or "busy"))
  if w then w:release() end
elseif mode == "cycles" then
  local n = tonumber(arg[3])
  local rw = baton.rwlock(path)
  rw:read():release() -- connect first
  local t0 = baton.now()
  for _ = 1, n do rw:read():release() end
  local t1 = baton.now()
  for _ = 1, n do rw:write():release() end
  local t2 = baton.now()
  print(string.format("%.1f %.1f", (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6))
elseif mode == "remove" then
  local removed = os.remove(path)
  local renamed = os.rename(path, path .. ".moved")
  print((not removed and not renamed and exists(path)) and "kept"
    or ((removed and "removed " or "") .. (renamed and "renamed" or "")))
elseif mode == "sem_hold" then
  local g = baton.semaphore(path, tonumber(arg[3])):acquire()
  touch(arg[4])
  while not exists(arg[5]) do baton.sleep(0.01) end
  local slot = g.slot
  g:release()
  print("released " .. slot)
elseif mode == "sem_try" then
  local g, _, code = baton.semaphore(path, tonumber(arg[3])):try_acquire()
  print(g and "ok " .. g.slot or code)
  if g then g:release() end
elseif mode == "sem_wait" then
  if arg[5] then touch(arg[5]) end
  local t0 = baton.now()
  local g, _, code = baton.semaphore(path, tonumber(arg[3])):try_acquire({ timeout = tonumber(arg[4]) })
  print(g and "ok" or code, string.format("%.3f", baton.now() - t0))
  if g then g:release() end
elseif mode == "sem_close" then
  local n = tonumber(arg[3])
  local sem = baton.semaphore(path, n)
  local function all(k)
    if k == 0 then
      local g, _, code = sem:try_acquire()
      if g then g:release() end
      return g and "ok" or code
    end
    local _ <close> = sem:acquire()
    return all(k - 1)
  end
  local inside = all(n)
  local g, _, code = sem:try_acquire()
  print(inside .. " " .. (g and "ok" or code))
  if g then g:release() end
elseif mode == "sem_cycles" then
  local sem, count = baton.semaphore(path, tonumber(arg[3])), tonumber(arg[4])
  local t0 = baton.now()
  for _ = 1, count do sem:acquire():release() end
  print(string.format("%.1f", (baton.now() - t0) / count * 1e6))
else
  error("rw_peer.lua: unknown mode " .. tostring(mode))
end
