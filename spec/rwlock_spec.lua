-- Read/write locks against real peers: Python processes running filelock's ReadWriteLock
-- protocol, the sqlite3 shell, Lua children, and other lock objects in this process.
-- (Lock files are only ever looked at from other processes: see spec/helpers/rw.lua.)
local baton = require "baton"
local H = require "helpers"
local R = require "helpers.rw"

local raises = H.raises

describe("read/write locks", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/rw.lock"
  end)
  after_each(function()
    collectgarbage() -- let go of lock objects a failed test left behind
    H.cleanup()
  end)

  describe("with Python filelock's protocol", function()
    it("shares a read lock with a Python reader and keeps Python writers out", function()
      local pid = R.py_holder(path, "read", 30)
      local rw = baton.rwlock(path)
      local r = rw:read({ timeout = 5 })
      assert.equal("read", rw:mode())
      assert.equal("busy", select(3, baton.rwlock(path):try_write()))
      assert.equal(0, R.py_try(path, "read"))
      assert.equal(R.BUSY, R.py_try(path, "write"))
      R.kill(pid)
      assert.equal(R.BUSY, R.py_try(path, "write")) -- our read lock still counts
      r:release()
      assert.equal(0, R.py_try(path, "write"))
    end)

    it("is kept out by a Python writer, and gets in once it is gone", function()
      local pid = R.py_holder(path, "write", 30)
      local rw = baton.rwlock(path)
      local g, msg, code = rw:try_read()
      assert.is_nil(g)
      assert.equal("busy", code)
      assert.matches(path, msg, 1, true)
      assert.equal("busy", select(3, rw:try_write()))
      R.kill(pid)
      local w = rw:write({ timeout = 5 })
      assert.equal(R.BUSY, R.py_try(path, "read"))
      assert.equal(R.BUSY, R.py_try(path, "write"))
      w:release()
      assert.equal(0, R.py_try(path, "read"))
    end)

    it("keeps a Python writer that waits for it, and lets it in on release", function()
      local rw = baton.rwlock(path)
      local r = rw:read()
      local pid, ready = R.py_waiter(path, "write", 30, 0.5)
      -- The waiting writer holds PENDING: a new reader now has to queue behind it.
      H.wait_for(function() return R.py_try(path, "read") == R.BUSY end, 10, "the writer to queue")
      assert.is_nil(H.read(ready))
      assert.equal("busy", select(3, baton.rwlock(path):try_read()))
      r:release()
      H.wait_file(ready)
      local r2 = rw:read({ timeout = 10 }) -- queued behind the writer, in once it is done
      r2:release()
      R.kill(pid)
    end)

    it("makes Python readers queue behind a baton writer that is waiting", function()
      local reader = R.py_holder(path, "read", 30)
      local rw = baton.rwlock(path)
      local checked = false
      local w = rw:write({ timeout = 20, sleep = function(s)
        if not checked then
          checked = true
          -- Waiting for the reader to finish: no new reader may start meanwhile.
          assert.equal(R.BUSY, R.py_try(path, "read"))
          assert.equal("busy", select(3, baton.rwlock(path):try_read()))
          assert.is_false(R.sqlite3_try_exclusive(path))
          R.kill(reader)
        end
        baton.sleep(s)
      end })
      assert.is_true(checked)
      assert.equal("write", rw:mode())
      w:release()
    end)
  end)

  describe("with the sqlite3 shell", function()
    it("is kept out by BEGIN EXCLUSIVE, in both modes", function()
      local pgid = R.sqlite3_holder(path)
      local rw = baton.rwlock(path)
      assert.equal("busy", select(3, rw:try_read()))
      assert.equal("busy", select(3, rw:try_write()))
      assert.equal("timeout", select(3, rw:try_write({ timeout = 0.2 })))
      R.kill_group(pgid)
      rw:read({ timeout = 5 }):release()
    end)

    it("keeps the shell's BEGIN EXCLUSIVE out while it holds either mode", function()
      local rw = baton.rwlock(path)
      local r = rw:read()
      assert.is_false(R.sqlite3_try_exclusive(path))
      r:release()
      local w = rw:write()
      assert.is_false(R.sqlite3_try_exclusive(path))
      w:release()
      assert.is_true(R.sqlite3_try_exclusive(path))
    end)
  end)

  describe("writers", function()
    it("get in while readers keep chaining their read locks", function()
      -- Three readers that re-take the lock as soon as they let it go, started so that their
      -- holds overlap: some reader always holds the lock. A writer that gave up its place
      -- between attempts would wait for a gap that never comes.
      local readers, counts = {}, {}
      for i = 1, 3 do
        readers[i], counts[i] = R.py_chain_reader(path, 0.06)
        baton.sleep(0.02)
      end
      H.wait_for(function() return R.lines(counts[1]) >= 3 end, 10, "the readers to chain")
      local rw = baton.rwlock(path)
      local before = R.lines(counts[1]) + R.lines(counts[2]) + R.lines(counts[3])
      local w = rw:write({ timeout = 10 })
      assert.equal(R.BUSY, R.py_try(path, "read"))
      baton.sleep(0.1) -- a reader counts its turn just after it let go
      local during = R.lines(counts[1]) + R.lines(counts[2]) + R.lines(counts[3])
      baton.sleep(0.3)
      -- While the writer holds the lock no reader gets a turn.
      assert.equal(during, R.lines(counts[1]) + R.lines(counts[2]) + R.lines(counts[3]))
      w:release()
      H.wait_for(function()
        return R.lines(counts[1]) + R.lines(counts[2]) + R.lines(counts[3]) > during
      end, 10, "the readers to resume")
      for i = 1, 3 do R.kill(readers[i]) end
      assert.is_true(during >= before)
    end)

    it("exclude each other across lock objects of one process", function()
      local a, b = baton.rwlock(path), baton.rwlock(path)
      local w = a:write()
      assert.equal("busy", select(3, b:try_write()))
      assert.equal("busy", select(3, b:try_read()))
      w:release()
      local r = b:read()
      assert.equal("busy", select(3, a:try_write()))
      a:read():release() -- readers share
      r:release()
      a:write():release()
    end)
  end)

  describe("modes and reentrancy", function()
    it("nests reads within reads and writes within writes, per object", function()
      local rw = baton.rwlock(path)
      local r1 = rw:read()
      local r2 = rw:read()
      assert.equal(2, rw:count())
      r1:release() -- in any order
      assert.equal("read", rw:mode())
      assert.equal(R.BUSY, R.py_try(path, "write"))
      r2:release()
      assert.is_nil(rw:mode())
      assert.equal(0, R.py_try(path, "write"))
      local w1 = rw:write()
      local w2 = rw:write()
      assert.equal(2, rw:count())
      w2:release()
      assert.equal(R.BUSY, R.py_try(path, "read"))
      w1:release()
      assert.equal(0, R.py_try(path, "read"))
    end)

    it("refuses to upgrade or downgrade instead of waiting for itself", function()
      local rw = baton.rwlock(path)
      local r = rw:read()
      local err = raises("upgrading to a write lock is not allowed", rw.write, rw)
      assert.matches(path, err, 1, true)
      raises("upgrading", rw.try_write, rw)
      raises("upgrading", rw.write, rw, { timeout = 0 })
      assert.equal("read", rw:mode())
      assert.equal(1, rw:count())
      r:release()
      local w = rw:write()
      raises("downgrading to a read lock is not allowed", rw.read, rw)
      raises("downgrading", rw.try_read, rw)
      assert.equal("write", rw:mode())
      w:release()
    end)
  end)

  describe("waiting", function()
    it("times out with an error naming the path, or nil and 'timeout' from try_*", function()
      local pid = R.py_holder(path, "write", 30)
      local rw = baton.rwlock(path)
      local t0 = baton.now()
      local err = raises("timed out", rw.read, rw, { timeout = 0.3 })
      assert.matches(path, err, 1, true)
      assert.is_true(baton.now() - t0 >= 0.29)
      local g, msg, code = rw:try_write({ timeout = 0.2 })
      assert.is_nil(g)
      assert.equal("timeout", code)
      assert.matches(path, msg, 1, true)
      local timed = baton.rwlock(path, { timeout = 0.1 })
      raises("timed out", timed.write, timed)
      R.kill(pid)
    end)

    it("gives up its place when a writer's wait ends", function()
      local reader = R.py_holder(path, "read", 30)
      local rw = baton.rwlock(path)
      assert.equal("timeout", select(3, rw:try_write({ timeout = 0.2 })))
      assert.equal(0, R.py_try(path, "read")) -- no PENDING left behind
      local n = 0
      local g, _, code = rw:try_write({ timeout = 10, cancel = function() n = n + 1; return n > 3 end })
      assert.is_nil(g)
      assert.equal("cancelled", code)
      assert.equal(0, R.py_try(path, "read"))
      R.kill(reader)
    end)

    it("pauses through a cooperative sleep function, readers and writers alike", function()
      local pid = R.py_holder(path, "write", 0.4)
      local rw = baton.rwlock(path)
      local slept = 0
      local function sleep(s)
        slept = slept + 1
        baton.sleep(s)
      end
      local co = coroutine.wrap(function()
        local r = rw:read({ timeout = 10, sleep = function(s) coroutine.yield(s) end })
        r:release()
        return "done"
      end)
      local turns, res = 0
      repeat
        res = co()
        turns = turns + 1
        if res ~= "done" then baton.sleep(res) end
      until res == "done"
      assert.is_true(turns > 1)
      R.kill(pid)
      local holder = R.py_holder(path, "read", 0.3)
      rw:write({ timeout = 10, sleep = sleep }):release()
      assert.is_true(slept > 0)
      R.kill(holder)
    end)

    it("is free once a killed holder is gone", function()
      local child = R.lua_child([[
        local baton = require "baton"
        local rw = baton.rwlock(arg[2])
        local w = rw:write()
        local f = assert(io.open(arg[1], "w")); f:write("held"); f:close()
        baton.sleep(30)
      ]], path)
      local rw = baton.rwlock(path)
      assert.equal("busy", select(3, rw:try_read()))
      R.kill(child, "KILL")
      rw:read({ timeout = 5 }):release()
      local py = R.py_holder(path, "read", 30)
      assert.equal("busy", select(3, rw:try_write()))
      R.kill(py, "KILL")
      rw:write({ timeout = 5 }):release()
    end)
  end)

  describe("the lock file", function()
    it("stays empty and never becomes WAL, whoever used it", function()
      local rw = baton.rwlock(path)
      for _ = 1, 50 do
        rw:read():release()
        rw:write():release()
      end
      local py = R.py_holder(path, "read", 0.2)
      rw:read({ timeout = 5 }):release()
      rw:write({ timeout = 5 }):release()
      assert.is_true(R.sqlite3_try_exclusive(path))
      R.kill(py)
      rw:close()
      assert.equal(0, R.size(path))
      assert.same({ "rw.lock" }, R.ls(dir)) -- no journal, no -wal, no -shm
      local code, out = H.run(H.PYTHON .. " -c " .. H.quote(string.format(
        "import sqlite3; print(sqlite3.connect(%q).execute('PRAGMA journal_mode').fetchone()[0])",
        path)))
      assert.equal(0, code, out)
      assert.equal("delete", (out:gsub("%s+$", "")))
      assert.equal(0, R.size(path))
    end)

    it("refuses a WAL-mode database and a file that is not a database, changing neither", function()
      local wal = dir .. "/wal.db"
      assert.equal(0, (H.run(H.PYTHON .. " -c " .. H.quote(string.format(
        "import sqlite3; c = sqlite3.connect(%q); c.execute('PRAGMA journal_mode=WAL');"
        .. " c.execute('CREATE TABLE t(x)'); c.commit(); c.close()", wal)))))
      local function sum(p) return select(2, H.run("md5sum < " .. H.quote(p))) end
      local before = sum(wal)
      local g, msg, code = baton.rwlock(wal):try_read()
      assert.is_nil(g)
      assert.equal("EINVAL", code)
      assert.matches("WAL", msg, 1, true)
      assert.matches(wal, msg, 1, true)
      raises("WAL", function() return baton.rwlock(wal):write({ timeout = 1 }) end)
      assert.equal(before, sum(wal))

      local data = dir .. "/data.txt"
      H.write(data, "precious data, not a database\n")
      local g2, msg2, code2 = baton.rwlock(data):try_write()
      assert.is_nil(g2)
      assert.equal("EINVAL", code2)
      assert.matches("not a database", msg2, 1, true)
      assert.equal("precious data, not a database\n", H.read(data))
    end)

    it("is refused when it is a symbolic link, a folder or a FIFO", function()
      os.execute("ln -s " .. H.quote(dir .. "/elsewhere") .. " " .. H.quote(path))
      assert.equal("ELOOP", select(3, baton.rwlock(path):try_read()))
      assert.equal("EISDIR", select(3, baton.rwlock(dir):try_read()))
      os.execute("mkfifo " .. H.quote(dir .. "/fifo"))
      local g, msg, code = baton.rwlock(dir .. "/fifo"):try_write()
      assert.is_nil(g)
      assert.equal("EINVAL", code)
      assert.matches("not a regular file", msg, 1, true)
    end)

    it("is taken on the file now at the path when the old one is replaced while waiting", function()
      local pid = R.py_holder(path, "write", 30)
      local rw = baton.rwlock(path)
      local swapped = false
      local r = rw:read({ timeout = 10, sleep = function(s)
        if not swapped then
          swapped = true
          os.execute("rm " .. H.quote(path) .. " && touch " .. H.quote(path))
        end
        baton.sleep(s)
      end })
      assert.is_true(swapped)
      assert.equal(R.BUSY, R.py_try(path, "write")) -- held on the new file
      r:release()
      R.kill(pid)
    end)

    it("is created with the given mode, folders included", function()
      local deep = dir .. "/a/b/rw.lock"
      baton.rwlock(deep, { mode = "0640" }):read():release()
      assert.equal("640", select(2, H.run("stat -c %a " .. H.quote(deep))):match("%d+"))
      assert.equal("ENOENT", select(3, baton.rwlock(dir .. "/x/y.lock", { mkdir = false }):try_read()))
    end)

    it("lets readers in, but not writers, when the file is read-only to them", function()
      baton.rwlock(path):read():release() -- created by root
      os.execute("chmod 0755 " .. H.quote(dir) .. "; chmod 0644 " .. H.quote(path))
      local code, out = H.run("setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.LUA
        .. " -e " .. H.quote(string.format([[
          local rw = require("baton").rwlock(%q)
          assert(rw:try_read()):release()
          print(rw:try_write())]], path)))
      assert.equal(0, code, out)
      assert.matches("EACCES", out)
    end)
  end)

  describe("as a kind of lock object", function()
    it("is a read lock with shared = true and a write lock without", function()
      local r = baton.lock(path, { kind = "rw", shared = true, timeout = 5 })
      assert.equal("rw", r.kind)
      assert.equal(0, R.py_try(path, "read"))
      assert.equal(R.BUSY, R.py_try(path, "write"))
      local l, _, code = baton.try_lock(path, { kind = "rw" })
      assert.is_nil(l)
      assert.equal("busy", code)
      r:acquire() -- reentrant per object
      r:release()
      r:release()
      local w = baton.lock(path, { kind = "rw", timeout = 5 })
      assert.equal(R.BUSY, R.py_try(path, "read"))
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "rw", shared = true })))
      w:release()
      assert.equal(0, R.py_try(path, "write"))
      assert.equal("EISDIR", select(3, baton.try_lock(dir, { kind = "rw" })))
    end)
  end)

  describe("guards and objects", function()
    it("release through <close>, even when the scope fails", function()
      if not H.is54 then return end
      local rw = baton.rwlock(path)
      local ok = pcall(H.run54, [[
        local rw = ...
        local r <close> = rw:read()
        local r2 <close> = rw:read()
        error("boom")
      ]], rw)
      assert.is_false(ok)
      assert.equal(0, rw:count())
      assert.equal(0, R.py_try(path, "write"))
      H.run54([[
        local rw = ...
        local w <close> = rw:write()
        w:release() -- released by hand first: leaving the scope does nothing more
      ]], rw)
      assert.equal(0, rw:count())
    end)

    it("release when collected, and when their object is collected", function()
      local rw = baton.rwlock(path)
      rw:write()
      assert.equal(R.BUSY, R.py_try(path, "read"))
      collectgarbage()
      collectgarbage()
      assert.equal(0, rw:count())
      assert.equal(0, R.py_try(path, "write"))
      baton.rwlock(path):read()
      collectgarbage()
      collectgarbage()
      assert.equal(0, R.py_try(path, "write"))
    end)

    it("release once, and scope a function with :with", function()
      local rw = baton.rwlock(path)
      local g = rw:read()
      g:release()
      raises("already released", g.release, g)
      local a, b = rw:write():with(function(x, y)
        assert.equal("write", rw:mode())
        return x + y, "two"
      end, 1, 2)
      assert.equal(3, a)
      assert.equal("two", b)
      assert.is_nil(rw:mode())
      local ok, err = pcall(function()
        return rw:read():with(function() error({ code = 7 }) end)
      end)
      assert.is_false(ok)
      assert.equal(7, err.code) -- re-raised unchanged
      assert.equal(0, rw:count())
    end)

    it("keep another object's lock when an object on the same file is closed or collected", function()
      local keeper = baton.rwlock(path)
      local r = keeper:read()
      for _ = 1, 3 do
        local other = baton.rwlock(path)
        other:read():release()
        other:close()
      end
      baton.rwlock(path):try_read()
      collectgarbage()
      collectgarbage()
      assert.equal(R.BUSY, R.py_try(path, "write")) -- keeper's SHARED lock survived
      r:release()
      assert.equal(0, R.py_try(path, "write"))
    end)

    it("refuse use after close, and misuse of options", function()
      local rw = baton.rwlock(path)
      rw:read()
      rw:close()
      assert.equal(0, R.py_try(path, "write"))
      raises("is closed", rw.read, rw)
      raises("is closed", rw.try_write, rw)
      rw:close()
      raises("lock path must be a string", baton.rwlock, nil)
      raises("lock path is empty", baton.rwlock, "")
      raises("option 'shared' does not apply", baton.rwlock, path, { shared = true })
      raises("unknown option 'timout'", baton.rwlock, path, { timout = 1 })
      raises("option 'mode' is set when the lock is made", rw.read, baton.rwlock(path), { mode = 420 })
      raises("option 'timeout' must be a number", baton.rwlock(path).write, baton.rwlock(path),
        { timeout = "1" })
    end)
  end)

  describe("looked at from the process that holds it", function()
    -- Closing any descriptor on the file would drop this process's SQLite locks there. The
    -- readers are found in the kernel's lock table (Linux only).
    it("keeps its read lock through baton.holder and a waiting writer's on_wait #linux", function()
      local rw = baton.rwlock(path)
      local r = rw:read()
      assert.equal(R.BUSY, R.py_try(path, "write"))
      assert.equal("rw", baton.holder(path).kind)
      baton.holder(path, { kind = "soft" })
      assert.equal(R.BUSY, R.py_try(path, "write"))
      local seen = false
      local g, _, code = baton.rwlock(path):try_write({ timeout = 0.2, warn_after = 0,
        on_wait = function() seen = true end })
      assert.is_nil(g)
      assert.equal("timeout", code)
      assert.is_true(seen)
      assert.equal(R.BUSY, R.py_try(path, "write"))
      assert.equal("read", rw:mode())
      r:release()
      assert.equal(0, R.py_try(path, "write"))
    end)
  end)
end)
