-- An error raised while a wait is under way (by a `sleep`, `cancel` or `on_wait` callback)
-- goes on unchanged, and the wait gives back everything it held first: a waiting writer's
-- place in the queue, descriptors, a lock taken a moment before.
local baton = require "baton"
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local HOLD = H.LUA .. " " .. H.quote(ROOT .. "/spec/helpers/hold.lua")
local PROBE = H.LUA .. " " .. H.quote(ROOT .. "/spec/helpers/probe.lua")

local function probe(kind, path)
  local code, out = H.run(PROBE .. " " .. kind .. " " .. H.quote(path))
  assert(code == 0, out)
  return (out:gsub("%s+$", ""))
end

local function hold(kind, path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(HOLD .. " " .. kind .. " " .. H.quote(path) .. " " .. seconds .. " "
    .. H.quote(ready))
  H.wait_file(ready)
  return pid
end

local MY_PID = tonumber(H.read("/proc/self/stat"):match("^%d+"))

-- Descriptors of this process open on files whose names start with `prefix`.
local function open_on(prefix)
  local n = 0
  local f = assert(io.popen("ls -l /proc/" .. MY_PID .. "/fd 2>/dev/null"))
  for line in f:lines() do
    local target = line:match("%-> (.*)$")
    if target and target:sub(1, #prefix) == prefix then n = n + 1 end
  end
  f:close()
  return n
end

-- The same as our own child, to be reaped: a killed orphan may stay a zombie
-- (where init does not reap), which only /proc tells from a live process.
local function own_holder(kind, path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local p = assert(baton.spawn{ H.LUA, ROOT .. "/spec/helpers/hold.lua", kind, path,
    tostring(seconds), ready, stdout = "null", stderr = "null" })
  H.wait_file(ready)
  return p
end

-- Callbacks that raise, each called during a wait on a lock held elsewhere.
local function raisers(err)
  return {
    sleep = { sleep = function() error(err) end },
    cancel = { cancel = function() error(err) end },
    on_wait = { warn_after = 0, on_wait = function() error(err) end },
  }
end

describe("an error raised while waiting", function()
  after_each(H.cleanup)

  for name, extra in pairs(raisers("boom")) do
    it("in " .. name .. ": a waiting writer gives up its place, readers get in", function()
      local dir = H.tmpdir()
      local path = dir .. "/rw.lock"
      local reader = hold("rw-read", path, 30)
      local rw = baton.rwlock(path)
      local o = { timeout = 10 }
      for k, v in pairs(extra) do o[k] = v end
      local ok, err = pcall(rw.write, rw, o)
      assert.is_false(ok)
      assert.matches("boom", err)
      assert.is_nil(rw:mode())
      -- the writer's PENDING lock would keep this reader out
      assert.equal("free", probe("rw-read", path))
      H.kill(reader, "KILL")
      rw:close()
    end)
  end

  it("passes the error value on unchanged and leaves no descriptor open", function()
    local dir = H.tmpdir()
    local err = setmetatable({}, { __tostring = function() return "the error" end })
    local cases = {
      { kind = "flock", path = dir .. "/f.lock", try = function(p, o) return baton.try_lock(p, o) end },
      { kind = "soft", path = dir .. "/s.lock",
        try = function(p, o) o.kind = "soft"; return baton.try_lock(p, o) end },
      { kind = "sem", path = dir .. "/sem",
        try = function(p, o) return baton.semaphore(p, 1):try_acquire(o) end },
      { kind = "rw-write", path = dir .. "/rw.lock",
        try = function(p, o) return baton.rwlock(p):try_write(o) end },
    }
    for _, c in ipairs(cases) do
      local holder = own_holder(c.kind, c.path, 30)
      for name, extra in pairs(raisers(err)) do
        local o = { timeout = 10 }
        for k, v in pairs(extra) do o[k] = v end
        local ok, got = pcall(c.try, c.path, o)
        assert.is_false(ok, c.kind .. " " .. name)
        assert.equal(err, got, c.kind .. " " .. name)
        collectgarbage() -- an rwlock object closes its connection when collected
        collectgarbage()
        assert.equal(0, open_on(c.path), c.kind .. " " .. name .. ": a descriptor stayed open")
      end
      holder:kill("KILL")
      assert(holder:wait(10), "the holder's end")
      assert.equal("free", probe(c.kind, c.path), c.kind)
    end
  end)

  -- The baton executable raises its interrupt error from a debug hook, between any two
  -- instructions; here a hook raises just as the attempt that took the lock returns.
  -- (LuaJIT calls no hooks on returns from C functions.)
  local it_puc = type(jit) == "table" and pending or it
  it_puc("raised by a hook just after the lock was taken, releases the lock", function()
    local dir = H.tmpdir()
    local cases = {
      { "flock", dir .. "/block.lock", "block", function(p) return baton.lock(p) end },
      { "flock", dir .. "/try.lock", "try", function(p) return baton.lock(p, { timeout = 5 }) end },
      { "soft", dir .. "/soft.lock", "try", function(p) return baton.soft_lock(p) end },
      { "rw-read", dir .. "/rw.lock", "try", function(p) return baton.rwlock(p):write() end },
      { "sem", dir .. "/sem", "try", function(p) return baton.semaphore(p, 1):acquire() end },
    }
    for _, c in ipairs(cases) do
      local probe_kind, path, at, take = c[1], c[2], c[3], c[4]
      local fired = false
      local function hook()
        local info = debug.getinfo(2, "nS")
        if not fired and info.what == "C" and info.name == at then
          fired = true
          error("interrupted")
        end
      end
      debug.sethook(hook, "r")
      local ok, err = pcall(take, path)
      debug.sethook()
      assert.is_true(fired, path)
      assert.is_false(ok, path)
      assert.matches("interrupted", err)
      assert.equal("free", probe(probe_kind, path), path)
    end
  end)

  -- The same interrupt as a release starts: the lock is still held, and the object says so.
  it_puc("raised by a hook as a release starts, leaves the object telling the truth", function()
    local dir = H.tmpdir()
    local cases = {
      { "flock", dir .. "/f.lock", function(p) local l = baton.lock(p); return l, function() l:release() end,
        function() return l:is_locked() end end },
      { "rw-read", dir .. "/rw.lock", function(p)
        local rw = baton.rwlock(p)
        local g = rw:write()
        return g, function() g:release() end, function() return g:is_held() and rw:mode() == "write" end
      end },
      { "sem", dir .. "/sem", function(p)
        local g = baton.semaphore(p, 1):acquire()
        return g, function() g:release() end, function() return g:is_held() end
      end },
    }
    for _, c in ipairs(cases) do
      local probe_kind, path, take = c[1], c[2], c[3]
      local obj, release, claims = take(path)
      local fired = false
      debug.sethook(function()
        local info = debug.getinfo(2, "nS")
        if not fired and info.what == "C" and info.name == "release" then
          fired = true
          error("interrupted")
        end
      end, "c")
      local ok, err = pcall(release)
      debug.sethook()
      assert.is_true(fired, path)
      assert.is_false(ok, path)
      assert.matches("interrupted", err)
      local truth = probe(probe_kind, path) == "busy"
      assert.equal(truth, claims(), path)
      if claims() then release() end
      assert.equal("free", probe(probe_kind, path), path)
      assert.is_not_nil(obj)
    end
  end)
end)
