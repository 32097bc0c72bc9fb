-- When a process runs out of descriptors: errors say so, baton.holder says it cannot tell
-- instead of "nobody", and a soft-lock wait gives up its own descriptors (its unnamed
-- marker, its watch) before it gives up the wait. (spec/faults/resources_fault.lua tries
-- every kind at every step; these are the cases that once went wrong.)
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local HOLD = H.LUA .. " " .. H.quote(ROOT .. "/spec/helpers/hold.lua")

-- A child with every descriptor but `free` taken, running `body` (which sees `path`).
local CHILD = [[
local baton = require "baton"
require "baton.holder"
require "baton.rwlock"
require "baton.kind.soft"
local path, free = arg[1], tonumber(arg[2])
local held = {}
while true do
  local f = io.open("/dev/null")
  if not f then break end
  held[#held + 1] = f
end
for _ = 1, free do table.remove(held):close() end
local function out(...) io.stdout:write(table.concat({ ... }, "\t"), "\n"); io.stdout:flush() end
]]

local function child(body, path, free)
  local code, out = H.run("ulimit -n 32 && " .. H.lua_cmd(H.script(CHILD .. body), path, free))
  assert(code == 0, out)
  return out
end

local function hold(kind, path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(HOLD .. " " .. kind .. " " .. H.quote(path) .. " " .. seconds .. " " .. H.quote(ready))
  H.wait_file(ready)
  return pid
end

describe("out of descriptors", function()
  after_each(H.cleanup)

  it("baton.holder returns nil, message, EMFILE instead of claiming nobody holds it", function()
    local dir = H.tmpdir()
    local pid = hold("flock", dir .. "/f.lock", 30)
    local soft = hold("soft", dir .. "/s.lock", 30)
    local out = child([[
      for _, p in ipairs({ path .. "/f.lock", path .. "/s.lock", path .. "/missing.lock" }) do
        local h, msg, code = baton.holder(p)
        out(p, tostring(h), tostring(msg), tostring(code))
      end
    ]], dir, 0)
    assert.matches("f.lock\tnil\tbaton: cannot read [^\t]*: Too many open files\tEMFILE", out)
    assert.matches("s.lock\tnil\tbaton: cannot read [^\t]*: Too many open files\tEMFILE", out)
    assert.matches("missing.lock\tnil\tnil\tnil", out, 1, true) -- nothing there: no need to look
    H.kill(pid, "KILL")
    H.kill(soft, "KILL")
  end)

  -- With no descriptor for the folder the marker is made by its path, safely only through
  -- openat2(RESOLVE_NO_SYMLINKS); the portable walk needs a descriptor per folder.
  it("a soft-lock wait with one descriptor to spare still gets the lock #linux", function()
    local dir = H.tmpdir()
    local path = dir .. "/s.lock"
    hold("soft", path, 0.3)
    local out = child([[
      local l, msg, code = baton.try_lock(path, { kind = "soft", timeout = 10 })
      out(l and "got" or code, msg)
    ]], path, 1)
    assert.matches("^got", out)
  end)

  it("a read/write lock that cannot open its file says why", function()
    local dir = H.tmpdir()
    local out = child([[
      local g, msg, code = baton.rwlock(path):try_read()
      out(tostring(g), msg, code)
    ]], dir .. "/rw.lock", 1)
    -- SQLite opens the file where openat2 checks the path for links; elsewhere the walk to
    -- the folder runs out first
    local why = require("baton.core").platform.name == "linux"
      and "SQLite: unable to open database file %(Too many open files%)" or "Too many open files"
    assert.matches("^nil\tbaton: cannot open lock file '[^']*': " .. why .. "\tEMFILE", out)
  end)
end)
