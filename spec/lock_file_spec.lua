-- baton.lock_file is tied to the file it locks: the handle stays open while the lock object
-- lives, a lock whose descriptor was closed (or now is another file) says it is not held and
-- its release touches nothing; and OFD locks on a path follow a lock file removed under a
-- waiter, as flock locks do. Real processes check every lock from outside.
local baton = require "baton"
local core = require "baton.core"
local H = require "helpers"

local BIN = os.getenv("BATON_BIN") or "build/5.4/bin/baton"
local q = H.quote

local function free(path) return (H.run("flock -n " .. q(path) .. " true")) == 0 end

-- What descriptor `fd` of this process is open on, or nil.
local function fd_target(fd)
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^%d+")
  f:close()
  local code, out = H.run("readlink /proc/" .. pid .. "/fd/" .. fd)
  return code == 0 and out:gsub("%s+$", "") or nil
end

describe("baton.lock_file and the file it locks", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("keeps a handle it was given open: the collector cannot close it under the lock", function()
    local path = dir .. "/gc.lock"
    local l = baton.lock_file(assert(io.open(path, "w")))
    collectgarbage()
    collectgarbage()
    assert.is_true(l:is_locked())
    assert.is_false(free(path))
    l:release()
    assert.is_true(free(path))
    if H.is54 then
      H.run54([[
        local baton, path, free, assert = ...
        do
          local s <close> = baton.lock_file(io.open(path, "w"))
          collectgarbage()
          collectgarbage()
          assert(s:is_locked() and not free(path), "the scoped lock was lost to the collector")
        end
        assert(free(path), "the scoped lock outlived its scope")
      ]], baton, path, free, assert)
    end
  end)

  -- Lock a.lock through what(f, n) (its handle f, or its descriptor number n), close the
  -- handle and lock b.lock on descriptor n: the first lock is no longer held, and
  -- its release leaves b.lock alone. Returns both lock objects and b.lock's path.
  local function closed_under(what)
    local a, b = dir .. "/a.lock", dir .. "/b.lock"
    local f = assert(io.open(a, "w"))
    local n = core.fileno(f)
    local l = baton.lock_file(what(f, n))
    assert.is_true(l:is_locked())
    f:close()
    assert.is_false(l:is_locked())
    -- b.lock opened onto descriptor n (handles that land lower are kept open meanwhile), and
    -- locked by another lock object
    local h, lower = assert(io.open(b, "w")), {}
    while core.fileno(h) ~= n do
      assert(core.fileno(h) < n, "descriptor n was taken by something else")
      lower[#lower + 1] = h
      h = assert(io.open(b, "w"))
    end
    for _, x in ipairs(lower) do x:close() end
    local g = baton.lock_file(h)
    assert.are.equal(b, fd_target(n))
    assert.is_false(l:is_locked())
    l:release()
    assert.is_true(g:is_locked())
    assert.is_false(free(b)) -- another process still finds b.lock held
    return l, g, b
  end

  -- #linux: which file a descriptor is, is read from /proc
  it("is not held once its handle is closed, and its release leaves N's new file alone #linux", function()
    local l, g, b = closed_under(function(f) return f end)
    H.raises("closed", l.acquire, l)
    g:release()
    assert.is_true(free(b))
  end)

  it("does not take a new file on the same path for the closed handle's", function()
    local a = dir .. "/same.lock"
    local f = assert(io.open(a, "w"))
    local l = baton.lock_file(f)
    f:close()
    local g = baton.lock_file(assert(io.open(a, "w"))) -- the same file, on the same number
    assert.is_false(l:is_locked())
    l:release()
    assert.is_true(g:is_locked())
    assert.is_false(free(a))
    g:release()
  end)

  it("raises a failed wait's message, naming the descriptor", function()
    local path = dir .. "/t.lock"
    local held = baton.lock(path)
    local f = assert(io.open(path, "r"))
    local ok, err = pcall(function() return baton.lock_file(f, { timeout = 0.05 }) end)
    assert.is_false(ok)
    assert.are.equal("baton: timed out after 0.05 s waiting for lock 'fd " .. core.fileno(f) .. "'", err)
    held:release()
    f:close()
  end)

  it("checks a descriptor number's file before it unlocks it #linux", function()
    local l, g = closed_under(function(_, n) return n end)
    local again, msg = l:try_acquire()
    assert.is_nil(again)
    assert.matches("no longer the file", msg, 1, true)
    g:release()
  end)
end)

-- H holds, W waits, the file is removed, H lets go: W must not end up holding the removed
-- file while Z takes the new one at the path.
-- Linux only: OFD locks are Linux's (ENOTSUP elsewhere)
describe("OFD locks on a path whose file is removed under a waiter #linux", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  -- True once process `pid` has `path` open.
  local function has_open(pid, path)
    return (H.run("ls -l /proc/" .. pid .. "/fd 2>/dev/null | grep -qF " .. q(path))) == 0
  end

  local function race(waiter)
    local path = dir .. "/ofd.lock"
    local holder = H.spawn(q(BIN) .. " lock --fcntl " .. q(path) .. " sh -c "
      .. q("touch " .. q(dir .. "/h.in") .. "; while [ ! -e " .. q(dir .. "/h.go")
        .. " ]; do sleep 0.02; done"))
    H.wait_file(dir .. "/h.in")
    local w = H.spawn(waiter(path, dir .. "/w.in"))
    H.wait_for(function() return has_open(w, path) end, 10, "the waiter to open the lock file")
    baton.sleep(0.2) -- well into its wait
    assert(os.remove(path))
    H.write(dir .. "/h.go", "")
    H.wait_for(function() return not H.alive(holder) end, 10, "the holder to end")
    H.wait_file(dir .. "/w.in")
    -- Z, from another process and from this one
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --fcntl " .. q(path) .. " true")))
    local z, _, code = baton.try_lock(path, { api = "fcntl" })
    assert.is_nil(z)
    assert.are.equal("busy", code)
  end

  it("a waiter with a timeout follows the file a peer put in place of the held one", function()
    local path = dir .. "/moved.lock"
    H.spawn(q(BIN) .. " lock --fcntl " .. q(path) .. " sh -c " .. q("touch " .. q(dir .. "/h.in")
      .. "; sleep 30"))
    H.wait_file(dir .. "/h.in")
    H.spawn("sh -c " .. q("sleep 0.3; rm -f " .. q(path) .. "; touch " .. q(path)))
    local t0 = baton.now()
    local l = baton.lock(path, { api = "fcntl", timeout = 5 })
    assert.is_true(baton.now() - t0 < 2)
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --fcntl " .. q(path) .. " true")))
    l:release()
  end)

  it("baton lock --fcntl", function()
    race(function(path, ready)
      return q(BIN) .. " lock --fcntl " .. q(path) .. " sh -c " .. q("touch " .. q(ready) .. "; sleep 30")
    end)
  end)

  it("baton.lock(path, { api = \"fcntl\" }), waiting with a timeout", function()
    local script = H.script([[
      local baton = require "baton"
      local l = baton.lock(arg[1], { api = "fcntl", timeout = 20 })
      local f = assert(io.open(arg[2], "w")); f:close()
      baton.sleep(30)
      l:release()
    ]])
    race(function(path, ready) return H.lua_cmd(script, path, ready) end)
  end)
end)
