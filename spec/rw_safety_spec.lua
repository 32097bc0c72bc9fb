-- A read/write lock touches nothing but its own lock: not the database it locks (a real
-- database with a crashed writer's hot journal stays byte for byte as it was), not the files
-- SQLite keeps beside a database (journal, WAL), whoever owns them, and it creates nothing.
-- Files are only looked at from other processes (sha256sum, stat, ls): closing the lock file
-- in this process would drop its SQLite locks (see spec/helpers/rw.lua).
local baton = require "baton"
local H = require "helpers"
local R = require "helpers.rw"

local function sum(path)
  local code, out = H.run("sha256sum " .. H.quote(path))
  assert(code == 0, out)
  return out:match("^(%x+)")
end

-- Inode, size and modification time (to the nanosecond) of a file.
local function identity(path)
  local code, out = H.run("stat -c '%i %s %y' " .. H.quote(path))
  assert(code == 0, out)
  return (out:gsub("%s+$", ""))
end

-- Every file in `dir` with its content's sum and its identity.
local function snapshot(dir)
  local t = {}
  for _, name in ipairs(R.ls(dir)) do
    local p = dir .. "/" .. name
    t[name] = sum(p) .. " " .. identity(p)
  end
  return t
end

-- A database made by the sqlite3 shell, and a writer that crashed in the middle of a
-- transaction in journal_mode=DELETE (killed with SIGKILL after it wrote pages to the file),
-- leaving a hot journal beside it.
local function crashed_writer(db)
  local code, out = H.run("sqlite3 " .. H.quote(db) .. " 'CREATE TABLE t(x);' "
    .. "'INSERT INTO t VALUES (1);'")
  assert(code == 0, out)
  local ready = H.tmpdir() .. "/ready"
  local script = string.format("{ printf '%%s\\n' 'PRAGMA journal_mode=DELETE;' "
    .. "'PRAGMA cache_size=1;' 'BEGIN;' %s %s %s; sleep 60; } | sqlite3 %s",
    H.quote("INSERT INTO t SELECT randomblob(2000) FROM (WITH RECURSIVE r(i) AS (SELECT 1 "
      .. "UNION ALL SELECT i + 1 FROM r WHERE i < 200) SELECT i FROM r);"),
    H.quote("UPDATE t SET x = randomblob(3000);"),
    H.quote(".shell touch " .. H.quote(ready)), H.quote(db))
  local pgid = H.spawn("sh -c " .. H.quote(script))
  H.wait_file(ready)
  R.kill_group(pgid, "KILL")
end

describe("read/write locks leave alone what is not theirs", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    collectgarbage()
    H.cleanup()
  end)

  it("leave a crashed writer's hot journal and its database byte for byte as they are", function()
    local db = dir .. "/app.db"
    crashed_writer(db)
    local journal = db .. "-journal"
    assert.is_true(R.size(journal) > 0, "the crashed writer left a journal")
    -- It is hot: a copy of the pair, opened by SQLite, rolls back to the one committed row.
    local copy = H.tmpdir()
    assert.equal(0, (H.run(string.format("cp %s %s %s", H.quote(db), H.quote(journal),
      H.quote(copy)))))
    local code, out = H.run("sqlite3 " .. H.quote(copy .. "/app.db") .. " 'SELECT count(*) FROM t;'")
    assert.equal(0, code, out)
    assert.equal("1", out:match("%d+"))
    assert.is_nil(H.read(copy .. "/app.db-journal"))

    local before = snapshot(dir)
    assert.same({ "app.db", "app.db-journal" }, R.ls(dir))
    local rw = baton.rwlock(db)
    local r = rw:read({ timeout = 5 })
    -- Still the lock: the sqlite3 shell cannot get in (nor, for that, roll the journal back).
    assert.is_false(R.sqlite3_try_exclusive(db))
    assert.same(before, snapshot(dir))
    r:release()
    local w = rw:write({ timeout = 5 })
    assert.is_false(R.sqlite3_try_exclusive(db))
    assert.same(before, snapshot(dir))
    w:release()
    local k = baton.new(db, { kind = "rw", shared = true })
    k:acquire({ timeout = 5 })
    k:release()
    rw:close()
    assert.same(before, snapshot(dir))
  end)

  it("never delete another user's journal or WAL file in a sticky folder", function()
    if select(2, H.run("id -u")):match("^%d+") ~= "0" then
      return pending("needs root to add a second user")
    end
    local user = "batonrws1"
    os.execute("userdel -r " .. user .. " >/dev/null 2>&1")
    assert.equal(0, (H.run("useradd -M " .. user)))
    finally(function() os.execute("userdel -r " .. user .. " >/dev/null 2>&1") end)
    local shared = dir .. "/tmp"
    assert.equal(0, (H.run(string.format("chmod 0755 %s && mkdir -m 1777 %s", H.quote(dir),
      H.quote(shared)))))
    local path = shared .. "/app.lock"
    for _, suffix in ipairs({ "-journal", "-wal" }) do
      local code, out = H.run(string.format("runuser -u %s -- sh -c %s", user,
        H.quote("echo 'work in progress' > " .. H.quote(path .. suffix))))
      assert.equal(0, code, out)
    end
    local before = snapshot(shared)
    local rw = baton.rwlock(path)
    local r = rw:read({ timeout = 5 })
    assert.same({ "app.lock", "app.lock-journal", "app.lock-wal" }, R.ls(shared))
    r:release()
    local w = rw:write({ timeout = 5 })
    w:release()
    rw:close()
    local after = snapshot(shared)
    before["app.lock"], after["app.lock"] = nil, nil -- created by the lock
    assert.same(before, after)
    local _, owners = H.run("stat -c %U " .. H.quote(path .. "-journal") .. " "
      .. H.quote(path .. "-wal"))
    assert.equal(user .. "\n" .. user .. "\n", owners)
  end)

  it("refuse a lock file made a WAL database after they connected, opening no WAL file", function()
    local path = dir .. "/rw.lock"
    local rw = baton.rwlock(path)
    rw:read({ timeout = 5 }):release() -- connected, holding nothing
    local code, out = H.run("sqlite3 " .. H.quote(path) .. " 'CREATE TABLE t(x);' "
      .. "'PRAGMA journal_mode=WAL;' 'INSERT INTO t VALUES (1);'")
    assert.equal(0, code, out)
    assert.same({ "rw.lock" }, R.ls(dir))
    local before = snapshot(dir)
    for _, try in ipairs({ rw.try_read, rw.try_write }) do
      local g, msg, err = try(rw)
      assert.same({ "rw.lock" }, R.ls(dir))
      assert.is_nil(g)
      assert.equal("EINVAL", err)
      assert.matches("WAL", msg, 1, true)
      assert.matches(path, msg, 1, true)
    end
    rw:close()
    assert.same(before, snapshot(dir))
  end)

  it("create nothing beside the lock file and remove nothing from its folder", function()
    local path = dir .. "/rw.lock"
    H.write(dir .. "/notes.txt", "not ours\n")
    for _, suffix in ipairs({ "-journal", "-wal", "-shm" }) do
      H.write(path .. suffix, "someone else's " .. suffix .. "\n")
    end
    local rw = baton.rwlock(path)
    local r = rw:read({ timeout = 5 })
    r:release()
    local before = snapshot(dir) -- the lock file exists from here on
    -- Held for reading, for writing, and waiting to write (PENDING) behind another reader.
    r = rw:read({ timeout = 5 })
    assert.same(before, snapshot(dir))
    r:release()
    local w = rw:write({ timeout = 5 })
    assert.same(before, snapshot(dir))
    w:release()
    local child = R.lua_child([[
      local baton = require "baton"
      local g = baton.rwlock(arg[2]):read({ timeout = 10 })
      local f = assert(io.open(arg[1], "w")); f:write("held"); f:close()
      baton.sleep(30)
    ]], path)
    assert.equal("busy", select(3, rw:try_write()))
    assert.equal("timeout", select(3, rw:try_write({ timeout = 0.1 })))
    assert.same(before, snapshot(dir))
    R.kill(child)
    w = rw:write({ timeout = 5 })
    w:release()
    rw:close()
    assert.same(before, snapshot(dir))
    assert.same({ "notes.txt", "rw.lock", "rw.lock-journal", "rw.lock-shm", "rw.lock-wal" },
      R.ls(dir))
  end)
end)
