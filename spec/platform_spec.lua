-- What each platform backend tells baton.holder (doc/platforms.md): on Linux the kernel's lock
-- table names every program's holders; on the portable backend (make PLATFORM=posix, macOS,
-- the BSDs) baton's own records name baton holders, and the answer says what is unknown.
local baton = require "baton"
local core = require "baton.core"
local H = require "helpers"

-- A baton process holding `path` (shared when `shared`) with `note` until killed.
local NOTED = [[
local baton = require "baton"
local path, ready, note, shared = arg[1], arg[2], arg[3], arg[4] == "shared"
local l = baton.lock(path, { note = note, shared = shared })
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
baton.sleep(60)
l:release()
]]

local function noted_holder(path, note, shared)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(H.script(NOTED), path, ready, note, shared and "shared" or ""))
  H.wait_file(ready)
  return pid
end

describe("platform backends", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
  end)
  after_each(H.cleanup)

  it("say which platform they are and what holder lookups can know there", function()
    local p = core.platform
    assert.is_string(p.name)
    for _, fact in ipairs({ "lock_table", "openers", "cmdline", "started" }) do
      assert.is_boolean(p[fact], fact)
    end
    if p.name == "linux" then
      assert.is_true(p.lock_table and p.openers and p.cmdline and p.started)
    end
  end)

  it("name a baton holder of a flock lock with its note, and say what is unknown", function()
    local pid = noted_holder(path, "nightly build")
    local h = assert(baton.holder(path))
    assert.equal("flock", h.kind)
    assert.equal(pid, h.pid)
    assert.equal("nightly build", h.note)
    assert.is_number(h.since)
    if core.platform.lock_table then
      assert.is_nil(h.unknown)
    else
      assert.is_table(h.unknown)
      assert.matches("other than baton processes", table.concat(h.unknown, "; "), 1, true)
    end
    H.kill(pid, "KILL")
  end)

  it("name every baton holder of a shared lock", function()
    local a = noted_holder(path, "a", true)
    local b = noted_holder(path, "b", true)
    local h = assert(baton.holder(path))
    assert.is_true(h.shared)
    local seen = {}
    for _, e in ipairs(h.holders) do seen[e.pid] = e.note end
    assert.equal("a", seen[a])
    assert.equal("b", seen[b])
    H.kill(a, "KILL")
    H.kill(b, "KILL")
  end)

  it("do not name a killed holder, whose records stay behind", function()
    local pid = noted_holder(path, "gone soon")
    assert.equal(pid, assert(baton.holder(path)).pid)
    H.kill(pid, "KILL")
    -- its lock ends with it, and its table (not removed: it was killed) must not speak for it
    H.wait_for(function() return baton.holder(path) == nil end, 10, "the holder to be forgotten")
    local l = baton.lock(path, { timeout = 5 })
    l:release()
  end)

  it("do not believe a dead holder's record table that a live process's pid names now", function()
    local pid = noted_holder(path, "recycled")
    H.kill(pid, "KILL")
    H.wait_for(function() return not H.alive(pid) end, 10, "the holder's end")
    -- its table, left behind, as if its pid now named a live process (a recycled pid)
    local uid = io.popen("id -u"):read("*l")
    local old, new
    local live = H.spawn("exec sleep 60")
    for _, base in ipairs({ "/dev/shm", "/tmp" }) do
      local folder = base .. "/baton-" .. uid
      local f = io.popen("ls " .. H.quote(folder) .. " 2>/dev/null")
      for name in f:lines() do
        -- PID-TOKEN, or rPID-rTOKEN where the system tells no start token
        local r, token = name:match("^(r?)" .. pid .. "%-(.*)$")
        if r then
          old, new = folder .. "/" .. name, folder .. "/" .. r .. live .. "-" .. token
        end
      end
      f:close()
      if old then break end
    end
    assert(old, "the killed holder's table")
    local bytes = assert(H.read(old))
    local pack = string.pack or function(_, v) -- 5.1: little-endian int64 by hand
      local out = {}
      for i = 1, 8 do out[i] = string.char(v % 256); v = math.floor(v / 256) end
      return table.concat(out)
    end
    H.write(new, bytes:sub(1, 8) .. pack("<i8", live) .. bytes:sub(17))
    os.remove(old)
    assert.is_nil(baton.holder(path))
    os.remove(new)
    H.kill(live, "KILL")
  end)
end)
