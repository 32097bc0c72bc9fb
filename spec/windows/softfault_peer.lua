-- A peer for spec/windows/27_soft_faults.sh, run under wine as
-- `lua.exe softfault_peer.lua MODE PATH ...`; each mode prints what happened on one line.
--   try PATH             one attempt at a soft lock: "ok", or the code and the message
--   exhaust DIR          soft locks on DIR/m1, DIR/m2, ... until one fails (descriptors run
--                        out): its code and whether its marker was left ("left" or "gone")
--   bigpid PATH          a marker at PATH naming pid 4294967297 on this host (one past
--                        2^32: 1 when narrowed to 32 bits), then one attempt at it
local baton = require "baton"
local files = require "peer_files"

local mode, path = arg[1], arg[2]

local function try(p)
  local l, msg, code = baton.try_lock(p, { kind = "soft" })
  if l then
    l:release()
    return "ok"
  end
  return tostring(code) .. " " .. tostring(msg)
end

if mode == "try" then
  print(try(path))
elseif mode == "exhaust" then
  local held, i = {}, 0
  while i < 5000 do
    i = i + 1
    local l, _, code = baton.try_lock(path .. "/m" .. i, { kind = "soft" })
    if not l then
      for _, h in ipairs(held) do h:release() end
      print(tostring(code), files.exists(path .. "/m" .. i) and "left" or "gone")
      return
    end
    held[#held + 1] = l
  end
  print("never ran out")
elseif mode == "bigpid" then
  local me = baton.soft_lock(path .. ".host")
  local f = assert(io.open(path .. ".host", "rb"))
  f:read("l")
  local host = f:read("l")
  f:close()
  me:release()
  f = assert(io.open(path, "wb"))
  f:write("4294967297\n", host, "\n")
  f:close()
  print((try(path):gsub(" .*", "")))
end
