-- Soft locks among users who do not trust each other: a file at the lock path that is no
-- marker is never deleted, the names a break moves a marker to cannot be taken beforehand,
-- and a marker naming another user's process is not believed. The second user is real
-- (useradd), and its files are made by its own processes.
local baton = require "baton"
local core = require "baton.core"
local H = require "helpers"
local U = require "helpers.user"

local USER = "batonsoft1"
local IS_ROOT = U.IS_ROOT
local user = U.new(USER) -- made in setup

local function as_user(cmd)
  return user:as(cmd)
end

-- Run Python code as the second user; returns its output.
local function py_as_user(code, ...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local rc, out = H.run(as_user(H.PYTHON .. " -c " .. H.quote(code) .. " " .. table.concat(args, " ")))
  assert(rc == 0, out)
  return out
end

local function set_age(path, seconds)
  assert(os.execute(string.format("touch -m -d '%d seconds ago' %s", seconds, H.quote(path))))
end

local function owner_of(path)
  local _, out = H.run("stat -c %u " .. H.quote(path))
  return tonumber(out:match("%d+"))
end

local function kill_and_reap(pid)
  H.kill(pid, "KILL")
  H.wait_for(function() return not H.alive(pid) end, 10, "pid " .. pid .. " to end")
end

describe("soft locks among users", function()
  local dir, shared, path

  setup(function() user:create() end)
  teardown(function() user:remove() end)

  before_each(function()
    dir = H.tmpdir()
    assert(os.execute("chmod 755 " .. H.quote(dir)))
    -- a world-writable sticky folder, as /tmp is
    shared = dir .. "/shared"
    assert(os.execute("mkdir -m 1777 " .. H.quote(shared)))
    path = shared .. "/the.lock"
  end)
  after_each(H.cleanup)

  describe("a file that is no marker", function()
    local contents = {
      json = '{"workers": 4, "x": 1}\n',
      binary = (function()
        local t = {}
        for i = 0, 255 do t[#t + 1] = string.char((i * 37) % 256) end
        return table.concat(t)
      end)(),
      ["one line"] = "12345\n",
      ["a pid out of range"] = "0\nsome-host\n",
    }
    for name, content in pairs(contents) do
      it("is never broken, however old, and the error names the path (" .. name .. ")", function()
        H.write(path, content)
        set_age(path, 3600)
        local l, msg, code = baton.try_lock(path, { kind = "soft" })
        assert.is_nil(l)
        assert.equal("EEXIST", code)
        assert.matches(path, msg, 1, true)
        assert.matches("not a lock marker", msg, 1, true)
        local err = H.raises("not a lock marker", baton.soft_lock, path, { timeout = 0.5 })
        assert.matches(path, err, 1, true)
        assert.equal(content, H.read(path))
        local h = baton.holder(path, { kind = "soft" })
        assert.is_true(h.foreign)
        assert.is_false(h.stale)
      end)
    end

    it("is not broken when another user wrote it either", function()
      if not IS_ROOT then return pending("needs root to create a second user") end
      local content = '{"cache": "/var/cache/x"}\n'
      py_as_user("import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, content)
      set_age(path, 3600)
      assert.equal("EEXIST", select(3, baton.try_lock(path, { kind = "soft" })))
      assert.equal(content, H.read(path))
      assert.equal(user.uid, owner_of(path))
    end)
  end)

  describe("an empty marker (filelock 3.9)", function()
    -- Linux only: who has the empty marker open: /proc/PID/fd
    it("is held while a process of another user keeps it open, and broken once it is not #linux", function()
      if not IS_ROOT then return pending("needs root to create a second user") end
      H.write(path, "")
      set_age(path, 10)
      local pid = H.spawn(as_user("sleep 60") .. " < " .. H.quote(path))
      H.wait_for(function()
        local _, out = H.run("readlink /proc/" .. pid .. "/fd/0")
        return out:match("the%.lock")
      end, 10, "the other user's process to open the marker")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      H.raises("timed out", baton.soft_lock, path, { timeout = 1.5 })
      assert.equal("", H.read(path))
      kill_and_reap(pid)
      local l = baton.soft_lock(path, { timeout = 5 })
      assert.matches("^%d+\n", H.read(path))
      l:release()
    end)
  end)

  describe("breaking a dead holder's marker", function()
    it("works although another user made the names of the old predictable scheme", function()
      if not IS_ROOT then return pending("needs root to create a second user") end
      local dead = tonumber(H.read("/proc/sys/kernel/pid_max"):match("%d+")) + 1000
      local marker = dead .. "\n" .. core.hostname() .. "\n1\n"
      H.write(path, marker)
      -- ".baton-break.PID.N" for the next few thousand pids: folders for N = 1, files for 2
      local planted = tonumber((py_as_user([[
import os, sys
d = sys.argv[1]
last = int(open("/proc/sys/kernel/ns_last_pid").read())
top = int(open("/proc/sys/kernel/pid_max").read())
n = 0
for i in range(1, 4001):
    p = last + i
    if p >= top:
        p = 300 + p - top  # pids wrap around to 300
    os.mkdir("%s/.baton-break.%d.1" % (d, p))
    open("%s/.baton-break.%d.2" % (d, p), "w").write("mine")
    n += 1
print(n)
]], shared)):match("%d+"))
      assert.equal(4000, planted)
      local script = H.script([[
        local baton = require "baton"
        local l = baton.soft_lock(arg[1], { timeout = 5 })
        local f = io.open(arg[1], "rb"); io.write(f:read("*a")); f:close()
        l:release()
      ]])
      local code, out = H.run(H.lua_cmd(script, path))
      assert.equal(0, code, out)
      -- the start token line only where the system tells one
      local token = core.platform.started and "%d+\n" or ""
      assert.matches("^%d+\n" .. core.hostname():gsub("%p", "%%%0") .. "\n" .. token .. "$", out)
      assert.is_nil(H.read(path))
      -- every planted name is still there as it was, and nothing else was left behind
      local listing = H.listing(shared)
      local dirs, files, other = 0, 0, {}
      for name in listing:gmatch("[^\n]+") do
        if name:match("^%.baton%-break%.%d+%.1$") then
          dirs = dirs + 1
        elseif name:match("^%.baton%-break%.%d+%.2$") then
          files = files + 1
          if files % 500 == 0 then assert.equal("mine", H.read(shared .. "/" .. name)) end
        else
          other[#other + 1] = name
        end
      end
      assert.equal(planted, dirs)
      assert.equal(planted, files)
      assert.same({}, other)
    end)
  end)

  describe("a marker naming another user's process", function()
    -- Linux only: a process's owner and start token: /proc
    it("is not believed: not reported as that process, never broken, and the error says so #linux", function()
      if not IS_ROOT then return pending("needs root to create a second user") end
      local token = core.token(1)
      assert.is_string(token)
      local forged = "1\n" .. core.hostname() .. "\n" .. token .. "\n"
      py_as_user("import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, forged)
      set_age(path, 3600)
      local h = baton.holder(path)
      assert.equal("soft", h.kind)
      assert.is_nil(h.pid)
      assert.is_nil(h.cmdline)
      assert.is_true(h.forged)
      assert.is_false(h.believed)
      assert.equal(user.uid, h.uid)
      assert.equal(USER, h.user)
      assert.equal(1, h.claimed_pid)
      assert.equal(0, h.claimed_uid)
      assert.is_false(h.stale)
      for _, e in ipairs(h.holders) do
        assert.is_nil(e.pid)
        assert.is_nil(e.cmdline)
      end
      local l, msg, code = baton.try_lock(path, { kind = "soft" })
      assert.is_nil(l)
      assert.equal("EPERM", code)
      assert.matches(path, msg, 1, true)
      assert.matches("not believed", msg, 1, true)
      assert.matches("uid " .. user.uid .. " (" .. USER .. ")", msg, 1, true)
      H.raises("not believed", baton.soft_lock, path, { timeout = 0.5 })
      assert.equal(forged, H.read(path))
      assert.equal(user.uid, owner_of(path))
    end)

    -- Linux only: a process's owner and start token: /proc
    it("is believed when the file belongs to the named process's user #linux", function()
      if not IS_ROOT then return pending("needs root to create a second user") end
      local pid = H.spawn(as_user("sleep 60"))
      H.wait_for(function() return owner_of("/proc/" .. pid) == user.uid end, 10, "the sleeper")
      py_as_user("import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path,
        pid .. "\n" .. core.hostname() .. "\n" .. core.token(pid) .. "\n")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      local h = baton.holder(path)
      assert.equal(pid, h.pid)
      assert.is_true(h.alive)
      assert.is_nil(h.forged)
      kill_and_reap(pid)
      local l = baton.soft_lock(path, { timeout = 5 })
      l:release()
    end)
  end)
end)
