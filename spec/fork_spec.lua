-- What a child made by fork() sees of its parent's locks, for every kind of lock. Lua cannot
-- fork by itself, so the processes here are LuaJIT scripts calling fork() through the FFI
-- (with the LuaJIT build of the module). A child must never believe it holds its parent's
-- lock, and nothing it does may release that lock; a third process checks.
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local LUAJIT = "luajit"
local ENV = string.format("LUA_PATH=%s LUA_CPATH=%s ",
  H.quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
  H.quote(ROOT .. "/build/luajit/?.so;;"))
local PROBE = ENV .. LUAJIT .. " " .. H.quote(ROOT .. "/spec/helpers/probe.lua")
local HOLD = ENV .. LUAJIT .. " " .. H.quote(ROOT .. "/spec/helpers/hold.lua")

local function available()
  return (H.run("command -v " .. LUAJIT)) == 0 and H.read(ROOT .. "/build/luajit/baton/core.so") ~= nil
end

-- Per kind: how to take it, ask and release it, what taking it again in the child should
-- give while the parent holds it, and the probe kind a third process uses (busy while held).
local COMMON = [[
local ffi = require "ffi"
ffi.cdef [=[ int fork(void); int waitpid(int pid, int *status, int options); void _exit(int); ]=]
local baton = require "baton"
local kind, path, mode, probe_cmd = arg[1], arg[2], arg[3], arg[4]

local function out(...)
  io.stdout:write(table.concat({ ... }, " "), "\n")
  io.stdout:flush()
end

local function probe(k)
  local f = assert(io.popen(probe_cmd .. " " .. k .. " '" .. path .. "'"))
  local s = f:read("*l")
  f:close()
  return s
end

local K = {
  flock = {
    take = function(o) return baton.new(path, o):acquire() end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "flock",
  },
  ["flock-shared"] = {
    take = function(o) o.shared = true; return baton.new(path, o):acquire() end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "flock",
  },
  soft = {
    take = function(o) o.kind = "soft"; return baton.new(path, o):acquire() end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "soft",
  },
  ["soft-lease"] = { -- the child's work outlasts the lease: the parent's heartbeat keeps it
    take = function(o) o.kind, o.lease = "soft", 0.5; return baton.new(path, o):acquire() end,
    held = function(l) return l:is_locked() end,
    release = function(l) return assert(l:release()) end,
    again = function(l) baton.sleep(0.6); return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "soft-lease",
  },
  ["soft-strict"] = {
    take = function(o) o.kind, o.strict = "soft", true; return baton.new(path, o):acquire() end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "soft-strict",
  },
  ["rw-read"] = {
    take = function(o) local rw = baton.rwlock(path); return { rw = rw, g = rw:read(o) } end,
    held = function(x) return x.g:is_held() and x.rw:mode() == "read" end,
    release = function(x) x.g:release() end,
    again = function(x) return x.rw:try_read({ timeout = 0.2 }) ~= nil end,
    probe = "rw-write",
  },
  ["rw-write"] = {
    take = function(o) local rw = baton.rwlock(path); return { rw = rw, g = rw:write(o) } end,
    held = function(x) return x.g:is_held() and x.rw:mode() == "write" end,
    release = function(x) x.g:release() end,
    again = function(x) return x.rw:try_write({ timeout = 0.2 }) ~= nil end,
    probe = "rw-read",
  },
  ["softrw-read"] = {
    take = function(o) local rw = baton.rwlock(path, { soft = true }); return { rw = rw, g = rw:read(o) } end,
    held = function(x) return x.g:is_held() and x.rw:mode() == "read" end,
    release = function(x) x.g:release() end,
    again = function(x) return x.rw:try_read({ timeout = 0.2 }) ~= nil end,
    probe = "softrw-write",
  },
  ["softrw-write"] = {
    take = function(o) local rw = baton.rwlock(path, { soft = true }); return { rw = rw, g = rw:write(o) } end,
    held = function(x) return x.g:is_held() and x.rw:mode() == "write" end,
    release = function(x) x.g:release() end,
    again = function(x) return x.rw:try_write({ timeout = 0.2 }) ~= nil end,
    probe = "softrw-read",
  },
  file = { -- baton.lock_file on a handle opened before the fork: the child shares its open
    -- file description, and so the parent's lock
    take = function(o) return baton.lock_file(assert(io.open(path, "w")), o) end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "flock",
  },
  ["file-fcntl"] = {
    take = function(o) o.api = "fcntl"; return baton.lock_file(assert(io.open(path, "w")), o) end,
    held = function(l) return l:is_locked() end,
    release = function(l) l:release() end,
    again = function(l) return l:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "fcntl",
  },
  sem = {
    take = function(o) local s = baton.semaphore(path, 1); return { s = s, g = s:acquire(o) } end,
    held = function(x) return x.g:is_held() end,
    release = function(x) x.g:release() end,
    again = function(x) return x.s:try_acquire({ timeout = 0.2 }) ~= nil end,
    probe = "sem",
  },
}
local k = assert(K[kind], kind)
]]

-- The parent holds the lock and forks; the child looks, releases (or drops and collects its
-- copy), tries to take it again, and exits; the parent still holds it, then releases it.
local HELD = COMMON .. [[
local obj = k.take({})
local pid = ffi.C.fork()
if pid == 0 then
  out("child-held", tostring(k.held(obj)))
  if mode == "release" then
    local ok, err = pcall(k.release, obj)
    out("child-release", tostring(ok), ok and "" or tostring(err))
  else
    obj = nil
    collectgarbage()
    collectgarbage()
  end
  out("child-probe", probe(k.probe))
  local again
  if obj then again = k.again(obj) else again = pcall(k.take, { timeout = 0.2 }) end
  out("child-again", tostring(again))
  out("child-probe-after", probe(k.probe))
  ffi.C._exit(0)
end
ffi.C.waitpid(pid, ffi.new("int[1]"), 0)
out("parent-held", tostring(k.held(obj)))
out("parent-probe", probe(k.probe))
k.release(obj)
out("parent-probe-after", probe(k.probe))
]]

-- Another process holds the lock for a moment; the parent forks while it waits for it, so
-- parent and child both go on waiting on the object. At most one of them may get it.
local WAITING = COMMON .. [[
local forked, pid = false, nil
local function sleep(s)
  if not forked then forked = true; pid = ffi.C.fork() end
  baton.sleep(s)
end
local ok, got = pcall(k.take, { timeout = 0.8, sleep = sleep })
local who = pid == 0 and "child" or "parent"
out(who .. "-got", tostring(ok and got ~= nil), ok and "" or tostring(got))
if ok then
  baton.sleep(1) -- hold on past the other's deadline
  k.release(got)
end
if pid == 0 then ffi.C._exit(0) end
ffi.C.waitpid(pid, ffi.new("int[1]"), 0)
]]

local function run(script, kind, path, mode)
  local code, out = H.run(ENV .. LUAJIT .. " " .. H.quote(script) .. " " .. kind .. " "
    .. H.quote(path) .. " " .. mode .. " " .. H.quote(PROBE))
  assert(code == 0, out)
  local seen = {}
  for key, rest in out:gmatch("([%w%-]+) ([^\n]*)") do seen[key] = rest end
  return seen, out
end

-- What another holder (or, for shared kinds, another sharer) may do while the lock is held.
local SHARES = { ["flock-shared"] = true, ["rw-read"] = true, ["softrw-read"] = true }

describe("after fork() #hosts", function()
  after_each(H.cleanup)
  if not available() then
    return pending("needs luajit and the LuaJIT build (make LUA=luajit)")
  end

  for _, kind in ipairs({ "flock", "flock-shared", "soft", "soft-lease", "soft-strict", "rw-read",
      "rw-write", "softrw-read", "softrw-write", "sem", "file", "file-fcntl" }) do
    for _, mode in ipairs({ "release", "collect" }) do
      it(kind .. ": the child does not hold the parent's lock, and its " .. mode
        .. " leaves the parent's lock held", function()
        local dir = H.tmpdir()
        local path = dir .. "/" .. kind .. ".lock"
        local seen, out = run(H.script(HELD), kind, path, mode)
        assert.equal("false", seen["child-held"], out)
        if mode == "release" then assert.equal("true ", seen["child-release"], out) end
        assert.equal("busy", seen["child-probe"], out)
        assert.equal(tostring(SHARES[kind] == true), seen["child-again"], out)
        assert.equal("busy", seen["child-probe-after"], out)
        assert.equal("true", seen["parent-held"], out)
        assert.equal("busy", seen["parent-probe"], out)
        assert.equal("free", seen["parent-probe-after"], out)
      end)
    end
  end

  for _, kind in ipairs({ "flock", "soft", "soft-lease", "soft-strict", "rw-write", "softrw-write",
      "sem", "file", "file-fcntl" }) do
    it(kind .. ": a fork in the middle of a wait leaves one waiter to get the lock", function()
      local dir = H.tmpdir()
      local path = dir .. "/" .. kind .. ".lock"
      H.spawn(HOLD .. " " .. kind .. " " .. H.quote(path) .. " 0.3 " .. H.quote(dir .. "/ready"))
      H.wait_file(dir .. "/ready")
      local seen, out = run(H.script(WAITING), kind, path, "wait")
      local got = 0
      for _, who in ipairs({ "parent", "child" }) do
        assert.is_not_nil(seen[who .. "-got"], out)
        if seen[who .. "-got"]:match("^true") then got = got + 1 end
      end
      assert.equal(1, got, out)
      if kind:match("^file") then -- the child's copy of the descriptor is its parent's lock
        assert.matches("inherited through fork and shares its parent's lock", seen["child-got"], 1, true)
      end
    end)
  end
end)
