-- What is at a lock path, said truthfully: a symbolic link is refused as one (ELOOP, "it is a
-- symbolic link"), also when the kernel first answers EACCES (another user's link in a
-- sticky folder); and a semaphore slot file that cannot be used costs that slot only.
local baton = require "baton"
local H = require "helpers"
local R = require "helpers.rw"

local raises = H.raises

local function is_root()
  return select(2, H.run("id -u")):match("^%d+") == "0"
end

-- A second user for the spec, removed when the test ends.
local USER = "batonpath1"
local function add_user()
  os.execute("userdel -r " .. USER .. " >/dev/null 2>&1")
  assert.equal(0, (H.run("useradd -M " .. USER)))
  finally(function() os.execute("userdel -r " .. USER .. " >/dev/null 2>&1") end)
end

local function link_as(user, target, path)
  local code, out = H.run(string.format("runuser -u %s -- ln -s %s %s", user, H.quote(target),
    H.quote(path)))
  assert.equal(0, code, out)
end

-- Each kind of lock at `path`, tried once: the results of each try.
local function attempts(path)
  return {
    flock = { baton.try_lock(path) },
    shared = { baton.try_lock(path, { shared = true }) },
    read = { baton.rwlock(path):try_read() },
    write = { baton.rwlock(path):try_write() },
    rw_kind = { baton.try_lock(path, { kind = "rw", shared = true }) },
  }
end

local function assert_symlink_refused(path)
  for what, r in pairs(attempts(path)) do
    assert.is_nil(r[1], what)
    assert.equal("ELOOP", r[3], what .. ": " .. tostring(r[2]))
    assert.matches(path, r[2], 1, true)
    assert.matches("it is a symbolic link", r[2], 1, true)
  end
  raises("it is a symbolic link", baton.lock, path, { timeout = 1 })
  raises("it is a symbolic link", function() return baton.rwlock(path):read({ timeout = 1 }) end)
end

describe("lock paths", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    collectgarbage()
    H.cleanup()
  end)

  describe("a symbolic link at the path", function()
    it("is refused as a symbolic link by flock and read/write locks", function()
      H.write(dir .. "/target", "not a lock\n")
      os.execute("ln -s target " .. H.quote(dir .. "/to-file"))
      os.execute("ln -s nowhere " .. H.quote(dir .. "/dangling"))
      assert_symlink_refused(dir .. "/to-file")
      assert_symlink_refused(dir .. "/dangling")
      assert.equal("not a lock\n", H.read(dir .. "/target"))
      assert.is_nil(H.read(dir .. "/nowhere"))
    end)

    it("is refused as a symbolic link when another user planted it in a sticky folder", function()
      if not is_root() then return pending("needs root to add a second user") end
      add_user()
      local shared = dir .. "/tmp"
      assert.equal(0, (H.run(string.format("chmod 0755 %s && mkdir -m 1777 %s", H.quote(dir),
        H.quote(shared)))))
      H.write(dir .. "/victim", "root's file\n")
      link_as(USER, dir .. "/victim", shared .. "/app.lock")
      link_as(USER, dir .. "/absent", shared .. "/other.lock")
      assert_symlink_refused(shared .. "/app.lock")
      assert_symlink_refused(shared .. "/other.lock")
      link_as(USER, dir .. "/victim", shared .. "/jobs.1")
      local g, msg, code = baton.semaphore(shared .. "/jobs", 1):try_acquire()
      assert.is_nil(g)
      assert.equal("ELOOP", code)
      assert.matches(shared .. "/jobs.1': it is a symbolic link", msg, 1, true)
      assert.equal("root's file\n", H.read(dir .. "/victim"))
      assert.is_nil(H.read(dir .. "/absent"))
    end)
  end)

  describe("a semaphore slot file that cannot be used", function()
    it("is passed over for a free slot", function()
      local path = dir .. "/jobs"
      os.execute("ln -s /etc/hostname " .. H.quote(path .. ".1"))
      local peer = H.flock_holder(path .. ".2", 30)
      local g = baton.semaphore(path, 3):acquire({ timeout = 5 })
      assert.equal(3, g.slot)
      assert.equal(path .. ".3", g.path)
      -- Held by this process and a peer, the rest unusable: no slot is free.
      local other, msg, code = baton.semaphore(path, 3):try_acquire()
      assert.is_nil(other)
      assert.equal("busy", code)
      assert.matches(path .. ".1': it is a symbolic link (ELOOP)", msg, 1, true)
      g:release()
      R.kill(peer)
      assert.equal(2, baton.semaphore(path, 3):acquire({ timeout = 5 }).slot)
    end)

    it("leaves the held slots to wait for, and is named when none comes free", function()
      local path = dir .. "/jobs"
      os.execute("mkdir " .. H.quote(path .. ".2"))
      local first = H.flock_holder(path .. ".1", 30)
      local third = H.flock_holder(path .. ".3", 30)
      local sem = baton.semaphore(path, 3)
      local g, msg, code = sem:try_acquire()
      assert.is_nil(g)
      assert.equal("busy", code)
      assert.matches("no slot of semaphore '" .. path .. "' is free", msg, 1, true)
      assert.matches(path .. ".2'", msg, 1, true)
      assert.matches("(EISDIR)", msg, 1, true)
      g, msg, code = sem:try_acquire({ timeout = 0.2 })
      assert.is_nil(g)
      assert.equal("timeout", code)
      assert.matches(path .. ".2'", msg, 1, true)
      raises(path .. ".2'", sem.acquire, sem, { timeout = 0.2 })
      -- A peer that lets go of its slot while we wait: we get that slot.
      local lets_go = H.spawn(string.format("sh -c %s", H.quote("sleep 0.5; kill " .. third)))
      g = sem:acquire({ timeout = 10 })
      assert.equal(3, g.slot)
      g:release()
      R.kill(first)
      H.kill(lets_go)
    end)

    it("fails at once, naming the first, when no slot can be used", function()
      local path = dir .. "/jobs"
      os.execute("ln -s nowhere " .. H.quote(path .. ".1"))
      os.execute("mkdir " .. H.quote(path .. ".2"))
      local sem = baton.semaphore(path, 2)
      local t0 = baton.now()
      local g, msg, code = sem:try_acquire({ timeout = 5 })
      assert.is_nil(g)
      assert.equal("ELOOP", code)
      assert.matches(path .. ".1': it is a symbolic link", msg, 1, true)
      raises(path .. ".1': it is a symbolic link", sem.acquire, sem)
      assert.is_true(baton.now() - t0 < 2, "it did not wait")
    end)
  end)
end)
