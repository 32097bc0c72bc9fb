-- Two lock objects on one lock file in one process exclude each other, as two processes
-- would; a wait for a lock this very process holds, where nothing can yield, could never
-- end, so it fails at once and says so. The same file however its path is spelt.
-- Waits that could hang run in a child process under timeout(1), so that a regression
-- fails here instead of stopping the suite.
local baton = require "baton"
local H = require "helpers"

-- Run `code` in a child Lua with arg[1] = dir; returns its exit code and output.
local function child(code, dir)
  local script = H.script("local baton = require 'baton'\nlocal dir = arg[1]\n" .. code)
  return H.run("timeout 10 " .. H.lua_cmd(script, dir))
end

describe("two lock objects in one process", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/a.lock"
  end)
  after_each(H.cleanup)

  it("baton.lock twice without a timeout fails at once, naming the other object", function()
    local code, out = child([[
      local a = baton.lock(dir .. "/a.lock")
      local t0 = baton.now()
      local ok, err = pcall(baton.lock, dir .. "/a.lock")
      print(ok, baton.now() - t0 < 1, err)
      ok, err = pcall(function() return baton.new(dir .. "/a.lock"):acquire() end)
      print(ok, err)
      a:release()
      print(baton.lock(dir .. "/a.lock") ~= nil)
    ]], dir)
    assert.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^false\ttrue\t", lines[1])
    assert.matches("held by this process, through another lock object ('" .. path .. "')",
      lines[1], 1, true)
    assert.matches("could never end", lines[1], 1, true)
    assert.matches("^false\t", lines[2])
    assert.matches("held by this process", lines[2], 1, true)
    assert.equal("true", lines[3])
  end)

  it("the same for an exclusive lock wanted while this process holds it shared", function()
    local code, out = child([[
      local s = baton.lock(dir .. "/a.lock", { shared = true })
      local s2 = baton.lock(dir .. "/a.lock", { shared = true }) -- shared locks coexist
      print(pcall(baton.lock, dir .. "/a.lock", { note = "x" }))
      s:release(); s2:release()
    ]], dir)
    assert.equal(0, code, out)
    assert.matches("^false\t", out)
    assert.matches("held by this process", out, 1, true)
  end)

  it("the same for a soft lock whose marker names this process", function()
    local code, out = child([[
      local a = baton.soft_lock(dir .. "/s.lock")
      print(pcall(baton.soft_lock, dir .. "/s.lock"))
      print(baton.try_lock(dir .. "/s.lock", { kind = "soft" }))
      a:release()
      print(baton.try_lock(dir .. "/s.lock", { kind = "soft" }) ~= nil)
    ]], dir)
    assert.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^false\t.*held by this process, through another lock object.*could never end",
      lines[1])
    assert.matches("held by another holder: this process", lines[2], 1, true)
    assert.equal("true", lines[3])
  end)

  it("the same for a semaphore whose every slot this process holds", function()
    local code, out = child([[
      local sem = baton.semaphore(dir .. "/sem", 2)
      local g1, g2 = sem:acquire(), sem:acquire()
      print(pcall(sem.acquire, sem))
      g1:release(); g2:release()
    ]], dir)
    assert.equal(0, code, out)
    assert.matches("^false\t", out)
    assert.matches("held by this process, through this same semaphore object", out, 1, true)
  end)

  it("the same for two read/write lock objects on one file, in a conflicting mode", function()
    local code, out = child([[
      local p = dir .. "/rw.db"
      local a, b = baton.rwlock(p), baton.rwlock(dir .. "/./rw.db")
      local r = a:read()
      local r2 = b:read() -- readers coexist
      r2:release()
      local t0 = baton.now()
      local ok, err = pcall(b.write, b)
      print(ok, baton.now() - t0 < 1, err)
      r:release()
      local w = a:write()
      print(pcall(b.read, b))
      print(b:try_read())
      w:release()
      local g = b:write() -- free again once the other object let go
      print(g:is_held())
      g:release()
      local l = baton.new(p, { kind = "rw" }):acquire()
      print(pcall(b.read, b))
      l:release()
    ]], dir)
    assert.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^false\ttrue\t", lines[1])
    assert.matches("is held by this process, through another lock object; waiting for it here "
      .. "could never end", lines[1], 1, true)
    assert.matches("^false\t.*held by this process, through another lock object", lines[2])
    assert.matches("^nil\t.*held by another holder\tbusy$", lines[3])
    assert.equal("true", lines[4])
    assert.matches("^false\t.*held by this process, through another lock object", lines[5])
  end)

  it("knows the file however its path is spelt: relative, with ./, a hard link", function()
    local a = baton.lock(path)
    os.execute("ln " .. H.quote(path) .. " " .. H.quote(dir .. "/hard.lock"))
    local spellings = { dir .. "/./a.lock", dir .. "/../" .. dir:match("[^/]+$") .. "/a.lock",
      dir .. "/hard.lock" }
    for _, p in ipairs(spellings) do
      local got, msg, code = baton.try_lock(p)
      assert.is_nil(got, p)
      assert.equal("busy", code)
      assert.matches("held by another holder: this process, through another lock object ('"
        .. path .. "')", msg, 1, true)
    end
    a:release()
    assert.is_truthy(baton.try_lock(dir .. "/hard.lock")):release()
    -- a relative path, from a child whose working directory is the lock's folder
    local code, out = H.run("cd " .. H.quote(dir) .. " && timeout 10 " .. H.lua_cmd(H.script([[
      local baton = require "baton"
      local a = baton.lock("a.lock")
      print(pcall(baton.lock, "./a.lock"))
    ]])))
    assert.equal(0, code, out)
    assert.matches("this process, through another lock object ('a.lock')", out, 1, true)
  end)

  it("with a timeout it is an ordinary wait whose timeout names this process (not another)", function()
    local a = baton.lock(path)
    local t0 = baton.now()
    local l, msg, code = baton.try_lock(path, { timeout = 0.2 })
    assert.is_nil(l)
    assert.equal("timeout", code)
    assert.is_true(baton.now() - t0 >= 0.19)
    assert.matches("(held by this process, through another lock object ('" .. path .. "'))", msg,
      1, true)
    a:release()
    -- a holder in another process is not taken for this one
    H.flock_holder(path, 30)
    l, msg, code = baton.try_lock(path)
    assert.is_nil(l)
    assert.equal("busy", code)
    assert.is_nil(msg:find("this process", 1, true), msg)
    l, msg = baton.try_lock(path, { timeout = 0.05 })
    assert.is_nil(l)
    assert.is_nil(msg:find("this process", 1, true), msg)
  end)
end)
