-- Options: each kind of lock takes the wait's options and its own, and refuses every other
-- option as it refuses a typo, naming the kind; an explicit `mode` is the mode of a file baton
-- creates whatever the umask, and never changes a file that is there.
local baton = require "baton"
local H = require "helpers"

local raises = H.raises

local function fn() end

-- A valid value of every option there is.
local VALUES = {
  timeout = 1, note = "n", warn_after = 1, on_wait = fn, sleep = fn, poll = fn, cancel = fn,
  shared = true, mode = "0644", mkdir = true, stale_after = 1, ttl = 5, on_lost = fn,
  kind = true, -- filled in per kind below
}
local WAIT = { "timeout", "note", "warn_after", "on_wait", "sleep", "poll", "cancel" }

-- Each kind of lock: how it is made, what it is called, and the options of its own.
local KINDS = {
  { name = "flock", noun = "flock locks", own = { "shared", "mode", "mkdir", "kind" },
    make = function(path, o) return baton.new(path, o) end, kind = "flock" },
  { name = "soft", noun = "soft locks", own = { "mode", "mkdir", "stale_after", "kind" },
    make = function(path, o) o.kind = "soft"; return baton.new(path, o) end, kind = "soft" },
  { name = "rw", noun = "rw locks", own = { "shared", "mode", "mkdir", "kind" },
    make = function(path, o) o.kind = "rw"; return baton.new(path, o) end, kind = "rw" },
  { name = "etcd", noun = "etcd locks", own = { "shared", "ttl", "on_lost", "kind" }, etcd = true,
    make = function(_, o) return baton.new("etcd://127.0.0.1:1/options-spec", o) end, kind = "etcd" },
  { name = "baton.rwlock", noun = "read/write locks", own = { "mode", "mkdir" },
    make = function(path, o) return baton.rwlock(path, o) end },
  { name = "baton.semaphore", noun = "semaphores", own = { "mode", "mkdir" },
    make = function(path, o) return baton.semaphore(path, 2, o) end },
}

local function set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

local function octal_mode(file)
  local code, out = H.run("stat -c %a " .. H.quote(file))
  assert(code == 0, out)
  return (out:gsub("%s+$", ""))
end

describe("options", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  for _, k in ipairs(KINDS) do
    it("that do not apply to " .. k.name .. " raise, naming the option, the kind and the path", function()
      local own, path = set(k.own), dir .. "/x.lock"
      local shown = k.etcd and "etcd://127.0.0.1:1/options-spec" or path
      local refused = 0
      for name in pairs(VALUES) do
        if not own[name] and not set(WAIT)[name] then
          local err = raises(string.format("option '%s' does not apply to %s", name, k.noun),
            k.make, path, { [name] = VALUES[name] })
          assert.matches("(lock '" .. shown .. "')", err, 1, true)
          assert.not_matches("unknown option", err, 1, true)
          refused = refused + 1
        end
      end
      assert.is_true(refused >= 3, "only " .. refused .. " options refused")
      -- the wait's options and the kind's own are taken (etcd objects need baton.etcd_core)
      if not k.etcd or pcall(require, "baton.etcd_core") then
        local o = {}
        for _, name in ipairs(WAIT) do o[name] = VALUES[name] end
        for name in pairs(own) do o[name] = VALUES[name] end
        if own.kind then o.kind = k.kind end
        if k.name == "soft" then o.kind = nil end -- make() sets it
        assert.is_truthy(k.make(path, o))
      end
      -- a typo is still a typo
      raises("unknown option 'timout'", k.make, path, { timout = 1 })
    end)
  end

  it("name what soft locks and read/write locks take instead", function()
    local path = dir .. "/x.lock"
    assert.equal("baton.soft_lock: option 'shared' does not apply to soft locks, which are "
      .. "exclusive (lock '" .. path .. "')",
      select(2, pcall(baton.soft_lock, path, { shared = true })))
    assert.equal("baton.rwlock: option 'shared' does not apply to read/write locks, which take "
      .. "their mode from read() or write() (lock '" .. path .. "')",
      select(2, pcall(baton.rwlock, path, { shared = false })))
    assert.equal("baton.lock: option 'ttl' does not apply to flock locks (lock '" .. path .. "')",
      select(2, pcall(baton.lock, path, { ttl = 5 })))
    assert.equal("baton.try_lock: option 'on_lost' does not apply to flock locks (lock '"
      .. path .. "')", select(2, pcall(baton.try_lock, path, { on_lost = fn })))
    assert.equal("baton.new: option 'mkdir' does not apply to etcd locks, which have no file "
      .. "(lock 'etcd://127.0.0.1:1/x')",
      select(2, pcall(baton.new, "etcd://127.0.0.1:1/x", { mkdir = false })))
  end)

  describe("mode", function()
    -- Lock files made by a child whose umask is 077; prints each file's mode.
    local CHILD = [[
      local baton = require "baton"
      local dir, mode = ...
      if mode == "" then mode = nil end
      local function o(t) t.mode = mode; return t end
      baton.lock(dir .. "/flock.lock", o({})):release()
      local s = baton.lock(dir .. "/soft.lock", o({ kind = "soft" }))
      os.execute("stat -c %a " .. dir .. "/soft.lock > " .. dir .. "/soft.mode")
      s:release()
      baton.lock(dir .. "/rw.lock", o({ kind = "rw" })):release()
      local rw = baton.rwlock(dir .. "/rwlock.lock", o({}))
      rw:write():release()
      rw:close()
      local sem = baton.semaphore(dir .. "/sem", 2, o({}))
      sem:acquire():release()
    ]]

    local function run_child(mode)
      local script = H.script(CHILD)
      local code, out = H.run("umask 077 && " .. H.lua_cmd(script, dir, mode or ""))
      assert.equal(0, code, out)
    end

    local FILES = { "flock.lock", "rw.lock", "rwlock.lock", "sem.1" }

    it("is the mode of every file baton creates, whatever the umask; without it the umask applies", function()
      run_child("0644")
      for _, f in ipairs(FILES) do
        assert.equal("644", octal_mode(dir .. "/" .. f), f)
      end
      assert.equal("644\n", H.read(dir .. "/soft.mode"))
      dir = H.tmpdir()
      run_child(nil)
      for _, f in ipairs(FILES) do
        assert.equal("600", octal_mode(dir .. "/" .. f), f)
      end
      assert.equal("600\n", H.read(dir .. "/soft.mode"))
    end)

    it("never changes the mode of a file that is there", function()
      for _, f in ipairs(FILES) do
        H.write(dir .. "/" .. f, "")
        os.execute("chmod 600 " .. H.quote(dir .. "/" .. f))
      end
      run_child("0644")
      for _, f in ipairs(FILES) do
        assert.equal("600", octal_mode(dir .. "/" .. f), f)
      end
      -- the marker is made afresh by every acquisition: it gets the mode
      assert.equal("644\n", H.read(dir .. "/soft.mode"))
    end)

    it("takes numbers and octal strings with special bits", function()
      local script = H.script([[
        local baton = require "baton"
        local dir = ...
        baton.lock(dir .. "/n.lock", { mode = 416 }):release() -- 0640
        baton.lock(dir .. "/s.lock", { mode = "01640" }):release()
      ]])
      local code, out = H.run("umask 077 && " .. H.lua_cmd(script, dir))
      assert.equal(0, code, out)
      assert.equal("640", octal_mode(dir .. "/n.lock"))
      assert.equal("1640", octal_mode(dir .. "/s.lock"))
    end)

    it("refuses a number written in decimal and says how to write it", function()
      local path = dir .. "/x.lock"
      assert.equal("baton.new: option 'mode' is 644 in decimal, 01204 in octal: write "
        .. "mode = \"0644\" or mode = tonumber(\"644\", 8) (lock '" .. path .. "')",
        select(2, pcall(baton.new, path, { mode = 644 })))
      raises("write mode = \"0755\" or mode = tonumber(\"755\", 8)", baton.semaphore, path, 2,
        { mode = 755 })
      raises("write mode = \"0600\"", baton.rwlock, path, { mode = 600 })
      raises("write mode = \"0640\"", baton.soft_lock, path, { mode = 640 })
      raises("with bits above 0777: write special bits as an octal string such as \"01777\"",
        baton.new, path, { mode = 900 })
      assert.is_nil(H.read(path), "a refused mode created the file")
    end)
  end)
end)
