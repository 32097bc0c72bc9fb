-- Exclusive and shared flock locks against real peers: other processes running baton,
-- flock(1), Python's filelock, and other lock objects in this process.
local baton = require "baton"
local H = require "helpers"

describe("flock locks", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
  end)
  after_each(H.cleanup)

  describe("exclusion", function()
    it("excludes another process running baton, and is free once it exits", function()
      local pid = H.lua_holder(path, 0.5)
      local l, msg, code = baton.try_lock(path)
      assert.is_nil(l)
      assert.equal("busy", code)
      assert.matches(path, msg, 1, true)
      local got = baton.lock(path, { timeout = 5 })
      assert.is_true(got:is_locked())
      -- the holder releases just before it exits: its end may come a moment later
      H.wait_for(function() return not H.alive(pid) end, 5, "the holder's end")
      got:release()
    end)

    it("excludes flock(1) and is excluded by it", function()
      local pid = H.flock_holder(path, 30)
      assert.equal("busy", select(3, baton.try_lock(path)))
      H.kill(pid)
      H.wait_for(function() return not H.alive(pid) end)
      local l = baton.lock(path, { timeout = 5 })
      assert.equal(1, (H.run("flock -n " .. H.quote(path) .. " true")))
      l:release()
      assert.equal(0, (H.run("flock -n " .. H.quote(path) .. " true")))
    end)

    it("excludes Python filelock in both directions", function()
      local pid = H.python_holder(path, 30)
      assert.equal("busy", select(3, baton.try_lock(path)))
      H.kill(pid)
      H.wait_for(function() return not H.alive(pid) end)
      local l = baton.lock(path, { timeout = 5 })
      local probe = string.format([[
import filelock, sys
try:
    filelock.FileLock(%q).acquire(timeout=0)
except filelock.Timeout:
    sys.exit(3)
]], path)
      assert.equal(3, (H.run(H.PYTHON .. " -c " .. H.quote(probe))))
      l:release()
      assert.equal(0, (H.run(H.PYTHON .. " -c " .. H.quote(probe))))
    end)

    it("makes two lock objects in one process exclude each other", function()
      local a = baton.lock(path)
      local b = baton.new(path)
      local got, _, code = b:try_acquire()
      assert.is_nil(got)
      assert.equal("busy", code)
      a:release()
      assert.equal(b, b:try_acquire())
      assert.is_nil((baton.try_lock(path)))
      b:release()
    end)
  end)

  describe("shared locks", function()
    it("coexist with flock -s and with each other, and exclude flock -x", function()
      local pid = H.flock_holder(path, 30, "-s")
      local r1 = baton.lock(path, { shared = true, timeout = 0 })
      local r2 = baton.lock(path, { shared = true, timeout = 0 })
      assert.is_nil((baton.try_lock(path)))
      assert.equal(1, (H.run("flock -n -x " .. H.quote(path) .. " true")))
      assert.equal(0, (H.run("flock -n -s " .. H.quote(path) .. " true")))
      H.kill(pid)
      r1:release()
      r2:release()
      H.wait_for(function() return not H.alive(pid) end)
      assert.equal(0, (H.run("flock -n -x " .. H.quote(path) .. " true")))
    end)

    it("waits for an exclusive holder", function()
      H.flock_holder(path, 0.4, "-x")
      local t0 = baton.now()
      local r = baton.lock(path, { shared = true, timeout = 5 })
      assert.is_true(baton.now() - t0 > 0.2)
      r:release()
    end)
  end)

  describe("scopes", function()
    it("releases through <close> on normal exit, error, break and goto", function()
      if not H.is54 then return pending("to-be-closed variables need Lua 5.4") end
      local run = H.run54([[
        local baton, path = ...
        local free = function() local l = baton.try_lock(path); if l then l:release() end; return l ~= nil end
        local seen = {}
        do local l <close> = baton.lock(path); seen.inside = free() end
        seen.after_block = free()
        pcall(function() local l <close> = baton.lock(path); error("boom") end)
        seen.after_error = free()
        for i = 1, 3 do local l <close> = baton.lock(path); if i == 2 then break end end
        seen.after_break = free()
        do
          local l <close> = baton.lock(path)
          goto out
        end
        ::out::
        seen.after_goto = free()
        return seen
      ]], baton, path)
      assert.same({ inside = false, after_block = true, after_error = true, after_break = true,
        after_goto = true }, run)
    end)

    it("works with `local g <close> = l:acquire()` on a reused object", function()
      if not H.is54 then return pending("to-be-closed variables need Lua 5.4") end
      local l = baton.new(path)
      H.run54([[
        local l = ...
        for _ = 1, 3 do
          local g <close> = l:acquire()
          assert(g == l and l:count() == 1)
        end
      ]], l)
      assert.equal(0, l:count())
      assert.is_truthy(baton.try_lock(path)):release()
    end)

    it("releases through :with on every exit and passes results and errors through", function()
      local l = baton.new(path)
      local a, b = l:with(function(x, y)
        assert.is_nil((baton.try_lock(path)))
        return x + y, "two"
      end, 1, 2)
      assert.equal(3, a)
      assert.equal("two", b)
      local err = { code = 42 }
      local ok, got = pcall(l.with, l, function() error(err) end)
      assert.is_false(ok)
      assert.equal(err, got)
      assert.equal(0, l:count())
      assert.is_truthy(baton.try_lock(path)):release()
    end)

    it("releases a lock that was never released when it is collected", function()
      do local _ = baton.lock(path) end
      collectgarbage()
      collectgarbage()
      local l = baton.try_lock(path)
      assert.is_truthy(l)
      l:release()
    end)
  end)

  describe("reentrancy", function()
    it("counts acquisitions per object and releases at zero", function()
      local l = baton.new(path)
      l:acquire()
      l:acquire()
      assert.equal(l, l:try_acquire())
      assert.equal(3, l:count())
      l:release()
      l:release()
      assert.is_true(l:is_locked())
      assert.is_nil((baton.try_lock(path)))
      l:release()
      assert.is_false(l:is_locked())
      assert.is_truthy(baton.try_lock(path)):release()
    end)

    it("drops every level with force", function()
      local l = baton.new(path)
      l:acquire(); l:acquire(); l:acquire()
      l:release({ force = true })
      assert.equal(0, l:count())
      assert.is_truthy(baton.try_lock(path)):release()
    end)
  end)

  describe("timeouts", function()
    for _, t in ipairs({ 0.2, 0.6 }) do
      it("gives up after " .. t .. " s, within 10% + 50 ms", function()
        H.lua_holder(path, 10)
        local t0 = baton.now()
        local ok, err = pcall(baton.lock, path, { timeout = t })
        local took = baton.now() - t0
        assert.is_false(ok)
        assert.matches("timed out", err)
        assert.matches(path, err, 1, true)
        assert.is_true(took >= t, "returned early: " .. took)
        assert.is_true(took <= t * 1.1 + 0.05, "returned late: " .. took)
        local l, msg, code = baton.try_lock(path, { timeout = t })
        assert.is_nil(l)
        assert.equal("timeout", code)
        assert.matches("timed out", msg)
      end)
    end

    it("makes exactly one attempt with timeout = 0", function()
      H.lua_holder(path, 10)
      local t0 = baton.now()
      local l, _, code = baton.try_lock(path, { timeout = 0 })
      assert.is_nil(l)
      assert.equal("busy", code)
      assert.is_true(baton.now() - t0 < 0.05)
    end)

    it("waits forever with a negative timeout, and takes the lock when it is freed", function()
      H.lua_holder(path, 0.5)
      local l = baton.lock(path, { timeout = -1 })
      assert.is_true(l:is_locked())
      l:release()
    end)
  end)

  describe("the lock file", function()
    it("keeps its content, and is neither truncated nor removed", function()
      H.write(path, "precious data\n")
      for _ = 1, 3 do baton.lock(path):release() end
      local l = baton.lock(path, { shared = true })
      l:release()
      assert.equal("precious data\n", H.read(path))
    end)

    it("is created with mode 0666 masked by the umask, or with the given mode", function()
      local code, out = H.run("umask 022; " .. H.LUA .. " -e " .. H.quote(
        "require('baton').lock(" .. string.format("%q", path) .. "):release()")
        .. "; stat -c %a " .. H.quote(path))
      assert.equal(0, code)
      assert.equal("644", out:match("%d+"))
      local other = dir .. "/other.lock"
      code, out = H.run("umask 000; " .. H.LUA .. " -e " .. H.quote(
        "require('baton').lock(" .. string.format("%q", other) .. ", { mode = '0600' }):release()")
        .. "; stat -c %a " .. H.quote(other))
      assert.equal(0, code)
      assert.equal("600", out:match("%d+"))
    end)

    it("creates missing parent folders, unless mkdir = false", function()
      local deep = dir .. "/a/b/c.lock"
      baton.lock(deep):release()
      assert.is_truthy(H.read(deep))
      local l, msg, code = baton.try_lock(dir .. "/x/y.lock", { mkdir = false })
      assert.is_nil(l)
      assert.equal("ENOENT", code)
      assert.matches(dir .. "/x/y.lock", msg, 1, true)
    end)

    it("locks an existing file it may only read", function()
      H.write(path, "")
      os.execute("chmod 0444 " .. H.quote(path) .. "; chmod 0755 " .. H.quote(dir))
      local code, out = H.run("setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.LUA
        .. " -e " .. H.quote("local l = assert(require('baton').lock(" .. string.format("%q", path)
        .. ", {timeout=0})); print(l:is_locked())"))
      assert.equal(0, code, out)
      assert.matches("true", out)
    end)

    it("is not inherited by a child started with os.execute", function()
      local l = baton.lock(path)
      local out = dir .. "/fds"
      os.execute("ls -l /proc/self/fd/ > " .. H.quote(out) .. " 2>&1")
      assert.is_falsy(H.read(out):find(path, 1, true))
      -- a long-running child must not keep the lock alive after we release it
      os.execute("sleep 2 &")
      l:release()
      assert.is_truthy(baton.try_lock(path)):release()
    end)

    it("follows a lock file replaced by a peer while waiting", function()
      H.lua_holder(path, 10)
      -- the peer unlinks the held file and puts a fresh one in its place
      H.spawn("sh -c " .. H.quote("sleep 0.3; rm -f " .. H.quote(path) .. "; touch " .. H.quote(path)))
      local t0 = baton.now()
      local l = baton.lock(path, { timeout = 5 })
      assert.is_true(baton.now() - t0 < 2)
      -- we hold the file now at the path, so others are excluded from it
      assert.equal(1, (H.run("flock -n " .. H.quote(path) .. " true")))
      l:release()
    end)
  end)

  describe("fork", function()
    it("a child started with os.execute cannot release the parent's lock", function()
      local l = baton.lock(path)
      assert.equal(0, (H.run(H.LUA .. " -e " .. H.quote(
        "local l = require('baton').try_lock(" .. string.format("%q", path) .. "); os.exit(l and 1 or 0)"))))
      assert.is_true(l:is_locked())
      l:release()
    end)
  end)
end)
