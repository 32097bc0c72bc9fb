-- The messages users read: misuse names the function that was misused and points at the
-- caller's line; failures of a wait carry no position inside baton; `baton lock` and
-- `baton status` speak as "baton lock: ..." without the library's function names.
local baton = require "baton"
local H = require "helpers"

local BIN = os.getenv("BATON_BIN") or "build/5.4/bin/baton"

-- The number of the line of this file that ends with the comment "-- @mark".
local SOURCE = assert(H.read(debug.getinfo(1, "S").source:sub(2)))
local function line_of(mark)
  local n = 0
  for l in SOURCE:gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find("-- @" .. mark .. "$") then return n end
  end
  error("no line marked " .. mark)
end

-- err, which must be a string raised from the line marked `mark`, without that prefix.
local function from_line(err, mark)
  assert.is_string(err)
  local line = line_of(mark)
  local prefix = "messages_spec.lua:" .. line .. ": "
  local at = err:find(prefix, 1, true)
  assert.is_truthy(at, "not raised at line " .. line .. ": " .. err)
  return err:sub(at + #prefix)
end

describe("messages", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/m.lock"
  end)
  after_each(H.cleanup)

  describe("of misuse", function()
    it("say what the semaphore's slot count was", function()
      assert.equal("baton.semaphore: the number of slots must be an integer from 1 to 1024, got "
        .. "the string \"2\" (lock '" .. path .. "')", select(2, pcall(baton.semaphore, path, "2")))
      assert.equal("baton.semaphore: the number of slots must be an integer from 1 to 1024, got "
        .. "table (lock '" .. path .. "')", select(2, pcall(baton.semaphore, path, {})))
      assert.equal("baton.semaphore: the number of slots must be an integer from 1 to 1024, got "
        .. "0 (lock '" .. path .. "')", select(2, pcall(baton.semaphore, path, 0)))
    end)

    it("point at the caller's line", function()
      local err = select(2, pcall(function()
        local _ = baton.new(path, { ttl = 1 }) -- @new
      end))
      assert.equal("baton.new: option 'ttl' does not apply to flock locks (lock '" .. path .. "')",
        from_line(err, "new"))
      err = select(2, pcall(function()
        local _ = baton.semaphore(path, "2") -- @sem
      end))
      assert.matches("got the string \"2\"", from_line(err, "sem"), 1, true)
    end)

    it("of a bad etcd path name the function called", function()
      if not pcall(require, "baton.etcd_core") then return pending("needs baton.etcd_core") end
      assert.equal("baton.lock: bad etcd lock path 'etcd://x': no lock name: expected "
        .. "etcd://HOST:PORT/NAME", select(2, pcall(baton.lock, "etcd://x")))
      local err = select(2, pcall(function()
        local _ = baton.new("etcd://x") -- @etcd
      end))
      assert.equal("baton.new: bad etcd lock path 'etcd://x': no lock name: expected "
        .. "etcd://HOST:PORT/NAME", from_line(err, "etcd"))
    end)

    it("of baton.uv.lock raise from the call, naming it, not from inside the loop", function()
      local uvlock = require "baton.uv"
      local fake_uv = {} -- never reached: the options are refused first
      assert.equal("baton.uv.lock: unknown option 'timout' (lock '" .. path .. "')",
        select(2, pcall(uvlock.lock, fake_uv, path, { timout = 5 }, function() end)))
      assert.equal("baton.uv.lock: option 'ttl' does not apply to flock locks (lock '" .. path
        .. "')", select(2, pcall(uvlock.lock, fake_uv, path, { ttl = 5 }, function() end)))
      local err = select(2, pcall(function()
        uvlock.lock(fake_uv, path, { shared = 1 }, function() end) -- @uv
      end))
      assert.equal("baton.uv.lock: option 'shared' must be a boolean, got number (lock '" .. path
        .. "')", from_line(err, "uv"))
    end)
  end)

  describe("of waits", function()
    it("name the lock and what happened, at the caller's line or none", function()
      H.flock_holder(path, 10)
      local want = "baton: timed out after 0.05 s waiting for lock '" .. path .. "'"
      assert.equal(want, select(2, pcall(baton.lock, path, { timeout = 0.05 })))
      local l = baton.new(path)
      assert.equal(want, from_line(select(2, pcall(function()
        l:acquire({ timeout = 0.05 }) -- @acquire
      end)), "acquire"))
      local rw = baton.rwlock(dir .. "/rw.lock")
      local g = assert(rw:write())
      local other = baton.rwlock(dir .. "/rw.lock")
      local err = select(2, pcall(function()
        local _ = other:read({ timeout = 0.05 }) -- @read
      end))
      assert.equal("baton: timed out after 0.05 s waiting for lock '" .. dir .. "/rw.lock'",
        from_line(err, "read"))
      g:release()
      local sem = baton.semaphore(dir .. "/sem", 1)
      local held = sem:acquire()
      assert.equal("baton: all 1 slots of semaphore '" .. dir .. "/sem' are held (by this process, "
        .. "through this same semaphore object)",
        select(2, sem:try_acquire()))
      held:release()
      -- a poller used outside a coroutine
      local poll = require("baton.uv").poller({})
      assert.equal("baton.uv: the wait must run inside a coroutine (use baton.uv.lock)",
        select(2, pcall(baton.try_lock, path, { timeout = 1, poll = poll })))
    end)

    it("say 'cannot lock', not 'cannot lock lock file'", function()
      if not select(2, H.run("id -u")):match("^0%s") then return pending("needs root to add a user") end
      local user = "batonmsg1"
      H.run("userdel -r " .. user .. " 2>/dev/null")
      local code, out = H.run("useradd -M -d /nonexistent " .. user)
      assert.equal(0, code, out)
      finally(function() H.run("userdel " .. user) end)
      -- a file the user may read, not write: a write lock cannot be had
      H.write(path, "")
      os.execute("chmod 755 " .. H.quote(dir) .. "; chmod 644 " .. H.quote(path))
      local script = H.script([[
        local baton = require "baton"
        local rw = baton.rwlock((...))
        local g, msg, code = rw:try_write()
        io.write(tostring(msg), " ", tostring(code))
      ]])
      os.execute("chmod 755 " .. H.quote(script:match("^(.*)/")))
      code, out = H.run(string.format("setpriv --reuid=%s --regid=%s --clear-groups env LUA_PATH=%s "
        .. "LUA_CPATH=%s %s", user, user, H.quote(package.path), H.quote(package.cpath),
        H.lua_cmd(script, path)))
      assert.equal(0, code, out)
      assert.equal("baton: cannot lock '" .. path .. "': a write lock needs write access to the "
        .. "file EACCES", out)
    end)
  end)

  describe("of baton lock and baton status", function()
    local function run(args)
      local code, out = H.run(H.quote(BIN) .. " " .. args)
      return code, out
    end

    it("carry no function names of the library", function()
      local code, out = run("lock --soft -s " .. H.quote(path) .. " true")
      assert.equal(64, code)
      assert.equal("baton lock: option 'shared' does not apply to soft locks, which are exclusive "
        .. "(lock '" .. path .. "')\nTry 'baton lock --help' for more information.\n", out)
      code, out = run("lock " .. H.quote(dir .. "/no/such/x.lock") .. " true")
      assert.equal(66, code)
      assert.equal("baton lock: cannot open lock file '" .. dir .. "/no/such/x.lock': No such file "
        .. "or directory\n", out)
      code, out = run("lock /dev/null true")
      assert.equal(66, code)
      assert.equal("baton lock: cannot use lock file '/dev/null': not a regular file\n", out)
      code, out = run("lock " .. H.quote(dir) .. " true") -- a folder locks, as with flock(1)
      assert.equal(0, code)
      assert.equal("", out)
      code, out = run("lock --soft " .. H.quote(dir .. "/no/such/x.lock") .. " true")
      assert.equal(66, code)
      assert.equal("baton lock: cannot create soft lock '" .. dir .. "/no/such/x.lock': No such "
        .. "file or directory\n", out)
    end)

    it("name the command once", function()
      local code, out = run("status")
      assert.equal(64, code)
      assert.equal("baton status: needs at least one lock file\nTry 'baton status --help' for more "
        .. "information.\n", out)
    end)

    it("show errors in baton status without the library's prefix", function()
      local code, out = run("status --json /dev/null")
      assert.equal(66, code)
      assert.matches("\"error\": *\"'/dev/null' is a character device, not a lock file", out)
      code, out = run("status /dev/null")
      assert.equal(66, code)
      assert.matches("error  '/dev/null' is a character device, not a lock file", out, 1, true)
      assert.not_matches("baton:", out, 1, true)
    end)
  end)
end)
