-- A peer for spec/windows/run.sh, run under wine as `lua.exe peer.lua MODE PATH ...`: each
-- mode takes or tries baton's lock on PATH and prints what happened on one line.
--   hold PATH READY GO [shared]  lock, create READY, hold until GO exists, release
--   try PATH [shared]            one attempt: "ok", or the failure's code ("busy")
--   wait PATH SECONDS [STARTED]  a wait with a timeout (STARTED created as it begins): its
--                                code or "ok", and the seconds it waited
--   soft_hold PATH READY GO      as hold, with a soft lock
--   soft_abandon PATH READY GO   as soft_hold, but exit without releasing it (a crash)
--   soft_try PATH                one soft attempt: "ok" (and released: "ok gone"), or the code
--   soft_recycled PATH           a marker naming this process with another start token (its
--                                pid recycled): broken and taken over
--   objects PATH                 two lock objects of this process on PATH exclude each other,
--                                a wait without a deadline for the other fails at once
local baton = require "baton"

local mode, path = arg[1], arg[2]

local files = require "peer_files"
local exists = files.exists
local touch = files.touch

if mode == "hold" then
  local l = baton.lock(path, { shared = arg[5] == "shared" })
  touch(arg[3])
  while not exists(arg[4]) do baton.sleep(0.01) end
  l:release()
  print("released")
elseif mode == "try" then
  local l, _, code = baton.try_lock(path, { shared = arg[3] == "shared" })
  print(l and "ok" or code)
  if l then l:release() end
elseif mode == "wait" then
  if arg[4] then touch(arg[4]) end
  local t0 = baton.now()
  local l, _, code = baton.try_lock(path, { timeout = tonumber(arg[3]) })
  print(l and "ok" or code, string.format("%.3f", baton.now() - t0))
  if l then l:release() end
elseif mode == "soft_hold" then
  local l = baton.soft_lock(path)
  touch(arg[3])
  while not exists(arg[4]) do baton.sleep(0.01) end
  -- still there for others to read (not deleted, nor pending deletion) until released
  local intact = exists(path)
  l:release()
  print((intact and "" or "marker gone before the release, ") ..
    (exists(path) and "released, marker left" or "released"))
elseif mode == "soft_abandon" then
  baton.soft_lock(path)
  touch(arg[3])
  while not exists(arg[4]) do baton.sleep(0.01) end
  os.exit(0, false)
elseif mode == "soft_try" then
  local l, _, code = baton.try_lock(path, { kind = "soft" })
  if l then
    l:release()
    print(exists(path) and "ok left" or "ok gone")
  else
    print(code)
  end
elseif mode == "soft_recycled" then
  -- this process's pid and host, from a marker of its own
  local own = baton.soft_lock(path .. ".own")
  local f = assert(io.open(path .. ".own", "rb"))
  local pid, host = f:read("l", "l")
  f:close()
  own:release()
  f = assert(io.open(path, "wb"))
  f:write(pid, "\n", host, "\n", "1\n")
  f:close()
  local l, _, code = baton.try_lock(path, { kind = "soft" })
  print(l and "ok" or code)
  if l then l:release() end
elseif mode == "objects" then
  local a = assert(baton.try_lock(path))
  local b, _, code = baton.try_lock(path)
  -- a wait without a deadline that only this process could end fails at once
  local t0 = baton.now()
  local ok, err = pcall(baton.lock, path)
  local never = not ok and err:find("could never end", 1, true) and baton.now() - t0 < 1
  a:release()
  local c = baton.try_lock(path)
  print((b and "ok" or code) .. " " .. (never and "never" or tostring(err)) .. " " .. (c and "ok" or "busy"))
  if c then c:release() end
else
  error("peer.lua: unknown mode " .. tostring(mode))
end
