-- A peer for spec/windows/45_lock_file.sh, run under wine as `lua.exe fdlock_peer.lua MODE
-- PATH ...`: each mode opens PATH with io.open, locks the file with baton.lock_file or
-- try_lock_file, and prints what happened on one line.
--   hold PATH READY GO [shared]  lock, create READY, hold until GO exists, release, then
--                                write a line to the file: "released written" when the file
--                                was still open and took it
--   try PATH [shared]            one attempt: "ok", or the failure's code ("busy")
--   wait PATH SECONDS [STARTED]  a wait with a timeout (STARTED created as it begins): its
--                                code or "ok", and the seconds it waited; SECONDS
--                                "forever": baton.lock_file, with no deadline
--   closed PATH                  lock, close the file: "held" or "not held", and whether
--                                a flock lock of this process on PATH can be had then
--   close PATH                   a lock in a <close> scope: another lock object of this
--                                process is kept out inside it ("busy") and let in after
--                                it ("ok"), and the file is still open ("open")
--   gc PATH                      a lock object dropped and collected: "ok" (released) and
--                                "open" (the file stays the caller's)
--   unavailable PATH             what Windows lacks raises, naming it: one word per option
--                                or function, "refused" when it did
local baton = require "baton"
local core = require "baton.core"

local mode, path = arg[1], arg[2]

local files = require "peer_files"
local exists = files.exists
local touch = files.touch

local function open() return assert(io.open(path, "a+b")) end

local function attempt(opts)
  local l = baton.try_lock(path, opts)
  if l then l:release() end
  return l and "ok" or "busy"
end

if mode == "hold" then
  local f = open()
  local l = baton.lock_file(f, { shared = arg[5] == "shared" })
  touch(arg[3])
  while not exists(arg[4]) do baton.sleep(0.01) end
  l:release()
  local wrote = io.type(f) == "file" and f:write("after the release\n") and f:flush()
  f:close()
  print(wrote and "released written" or "released, the file was not usable")
elseif mode == "try" then
  local f = open()
  local l, _, code = baton.try_lock_file(f, { shared = arg[3] == "shared" })
  print(l and "ok" or code)
  if l then l:release() end
  f:close()
elseif mode == "wait" then
  local f = open()
  if arg[4] then touch(arg[4]) end
  local t0 = baton.now()
  local l, _, code
  if arg[3] == "forever" then
    l = baton.lock_file(f)
  else
    l, _, code = baton.try_lock_file(f, { timeout = tonumber(arg[3]) })
  end
  print(l and "ok" or code, string.format("%.3f", baton.now() - t0))
  if l then l:release() end
  f:close()
elseif mode == "closed" then
  local f = open()
  local l = baton.lock_file(f)
  f:close()
  local held = l:is_locked()
  l:release() -- touches nothing
  print((held and "held" or "not held") .. " " .. attempt())
elseif mode == "close" then
  local f = open()
  local inside
  do
    local _ <close> = baton.lock_file(f)
    inside = attempt()
  end
  print(inside .. " " .. attempt() .. " " .. (io.type(f) == "file" and "open" or "closed"))
  f:close()
elseif mode == "gc" then
  local f = open()
  baton.lock_file(f)
  local before = attempt()
  collectgarbage()
  collectgarbage()
  print(before .. " " .. attempt() .. " " .. (io.type(f) == "file" and "open" or "closed"))
  f:close()
elseif mode == "unavailable" then
  local f = open()
  local out = {}
  local function refused(name, fn, ...)
    local ok, err = pcall(fn, ...)
    local named = not ok and tostring(err):find(name .. "' is not available on Windows yet", 1, true)
      or not ok and tostring(err):find(name .. " is not available on Windows yet", 1, true)
    out[#out + 1] = named and "refused" or ("accepted " .. name .. ": " .. tostring(err))
  end
  refused("start", baton.lock_file, f, { start = 1 })
  refused("length", baton.try_lock_file, f, { length = 1 })
  refused("api = \"fcntl\"", baton.lock, path, { api = "fcntl" })
  refused("baton.core.exec_holding", core.exec_holding, nil, { "cmd" })
  print(table.concat(out, " "))
  f:close()
else
  error("fdlock_peer.lua: unknown mode " .. tostring(mode))
end
