-- baton.holder believes the kernel's table first: a flock holder there wins over what the
-- file says; SQLite's record locks (read/write locks) are holders of kind "rw", with each
-- holder's mode read from SQLite's lock bytes; directories are lock files too; an empty
-- marker that Debian's filelock 3.9 keeps open is a soft lock even when no kind is asked.
local baton = require "baton"
local core = require "baton.core"
local core_test = require "baton.core_test"
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local RW_HELPER = ROOT .. "/spec/helpers/filelock_rw.py"

local function by_pid(holders)
  local t = {}
  for _, h in ipairs(holders) do t[h.pid] = h end
  return t
end

-- The sqlite3 shell running `sql` on `db` and then waiting; returns once it ran it.
local function sqlite_shell(db, sql, ready)
  H.spawn(string.format("sh -c %s", H.quote(string.format(
    "(echo %s; echo '.output %s'; echo 'SELECT 1;'; sleep 30) | exec sqlite3 %s",
    H.quote(sql), ready, H.quote(db)))))
  H.wait_file(ready)
end

describe("baton.holder tells the truth", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("a flock holder in the kernel's table wins over content that looks like a marker #linux", function()
    local path = dir .. "/looks.lock"
    H.write(path, "1\n" .. core.hostname() .. "\n")
    local pid = H.flock_holder(path, 30, "-x")
    local h = baton.holder(path)
    assert.equal("flock", h.kind)
    assert.equal(pid, h.pid)
    assert.equal(1, #h.holders)
    -- asked about soft locks alone, the marker is still what it says
    assert.equal(1, baton.holder(path, { kind = "soft" }).pid)
  end)

  it("a directory locked with flock(1) #linux", function()
    local lockdir = dir .. "/lockdir"
    assert.is_true((baton.run({ "mkdir", lockdir })))
    assert.is_nil(baton.holder(lockdir))
    local pid = H.flock_holder(lockdir, 30, "-x")
    local h = baton.holder(lockdir)
    assert.equal("flock", h.kind)
    assert.equal(pid, h.pid)
    assert.is_false(h.shared)
    assert.equal(pid, baton.holder(lockdir, { kind = "flock" }).pid)
  end)

  it("readers of an SQLite read/write lock: kind rw, mode read #linux", function()
    local path = dir .. "/rw.lock"
    local pids = {}
    for i = 1, 2 do
      local ready = dir .. "/r" .. i
      pids[i] = H.spawn(string.format("%s %s %s read 5 30 %s", H.PYTHON, H.quote(RW_HELPER),
        H.quote(path), H.quote(ready)))
      H.wait_file(ready)
    end
    local h = baton.holder(path)
    assert.equal("rw", h.kind)
    assert.equal("read", h.mode)
    assert.is_true(h.shared)
    local seen = by_pid(h.holders)
    for _, pid in ipairs(pids) do
      assert.equal("read", seen[pid].mode)
      assert.equal("shared", seen[pid].sqlite)
      assert.matches("filelock_rw.py", seen[pid].cmdline, 1, true)
    end
    assert.equal(2, #h.holders)
    -- a flock question is not answered with record locks
    assert.is_nil(baton.holder(path, { kind = "flock" }))
  end)

  it("a writer, and a reserved writer beside a reader, told apart by SQLite's lock bytes #linux", function()
    local path, ready = dir .. "/w.lock", dir .. "/w"
    local pid = H.spawn(string.format("%s %s %s write 5 30 %s", H.PYTHON, H.quote(RW_HELPER),
      H.quote(path), H.quote(ready)))
    H.wait_file(ready)
    local h = baton.holder(path)
    assert.equal("rw", h.kind)
    assert.equal("write", h.mode)
    assert.is_false(h.shared)
    assert.equal(pid, h.pid)
    assert.equal("exclusive", h.holders[1].sqlite)

    -- the sqlite3 shell: a reader (SHARED) and then BEGIN IMMEDIATE (RESERVED) in another
    local db = dir .. "/shell.lock"
    local reader_ready = dir .. "/reader"
    local reader = H.spawn(string.format("%s %s %s read 5 30 %s", H.PYTHON, H.quote(RW_HELPER),
      H.quote(db), H.quote(reader_ready)))
    H.wait_file(reader_ready)
    sqlite_shell(db, "BEGIN IMMEDIATE;", dir .. "/shell")
    h = baton.holder(db)
    assert.equal("rw", h.kind)
    assert.equal("write", h.mode)
    assert.equal(2, #h.holders)
    local seen = by_pid(h.holders)
    assert.equal("shared", seen[reader].sqlite)
    assert.equal("read", seen[reader].mode)
    local writer
    for p, e in pairs(seen) do
      if p ~= reader then writer = e end
    end
    assert.equal("reserved", writer.sqlite)
    assert.equal("write", writer.mode)
    assert.matches("sqlite3", writer.cmdline, 1, true)
  end)

  it("reads SQLite's lock bytes from /proc/locks lines", function()
    local text = table.concat({
      "1: POSIX  ADVISORY  READ  100 fd:01:123 1073741826 1073742335",
      "2: POSIX  ADVISORY  WRITE 200 fd:01:123 1073741825 1073741825",
      "3: POSIX  ADVISORY  READ  200 fd:01:123 1073741826 1073742335",
      "4: POSIX  ADVISORY  WRITE 300 fd:01:123 1073741824 1073741824",
      "5: POSIX  ADVISORY  WRITE 400 fd:01:123 1073741826 1073742335",
      "6: POSIX  ADVISORY  WRITE 500 fd:01:123 0 EOF",
      "7: OFDLCK ADVISORY  READ  -1 fd:01:123 1073741826 1073742335",
      "8: POSIX  ADVISORY  READ  600 fd:01:123 0 99",
      "9: FLOCK  ADVISORY  WRITE 700 fd:01:123 0 EOF",
      "9: -> POSIX  ADVISORY  WRITE 800 fd:01:123 1073741826 1073742335",
      "10: POSIX  ADVISORY  READ 900 fd:01:124 1073741826 1073742335",
      "11: POSIX  ADVISORY  READ 901 fd:01:123 5 3",
      "12: POSIX  ADVISORY  READ 902 fd:01:123 5",
    }, "\n")
    assert.same({
      -- each with the span of its ranges, as lslocks shows START and END (no end: EOF)
      { pid = 100, shared = true, writes = false, sqlite = "shared", start = 1073741826, ["end"] = 1073742335 },
      { pid = 200, shared = false, writes = true, sqlite = "reserved", start = 1073741825, ["end"] = 1073742335 },
      { pid = 300, shared = false, writes = true, sqlite = "pending", start = 1073741824, ["end"] = 1073741824 },
      { pid = 400, shared = false, writes = true, sqlite = "exclusive", start = 1073741826, ["end"] = 1073742335 },
      { pid = 500, shared = false, writes = true, sqlite = "exclusive", start = 0 },
      { shared = true, writes = false, sqlite = "shared", ofd = true, start = 1073741826, ["end"] = 1073742335 },
      { pid = 600, shared = true, writes = false, start = 0, ["end"] = 99 },
    }, core_test.parse_record_locks(text, 0xfd, 1, "123"))
    -- flock's parser still sees only flock lines
    assert.same({ { pid = 700, shared = false } }, core_test.parse_locks(text, 0xfd, 1, "123"))
  end)

  -- Linux only: who has the empty marker open: /proc/PID/fd
  it("Debian filelock 3.9's empty soft marker, held open, without asking for soft locks #linux", function()
    local path, ready = dir .. "/soft.lock", dir .. "/ready"
    local pid = H.spawn(H.PYTHON .. " -c " .. H.quote(string.format([[
import filelock, time
l = filelock.SoftFileLock(%q)
l.acquire()
open(%q, "w").write("held")
time.sleep(30)
]], path, ready)))
    H.wait_file(ready)
    assert.equal("", H.read(path))
    local h = baton.holder(path)
    assert.equal("soft", h.kind)
    assert.equal(pid, h.pid)
    assert.is_true(h.malformed)
    assert.is_true(h.alive)
    -- an empty file a process only keeps open for reading holds no lock
    local other = dir .. "/empty.lock"
    H.write(other, "")
    H.spawn("sh -c " .. H.quote("exec sleep 30 < " .. H.quote(other)))
    H.wait_for(function() return #core.openers(other) == 1 end, 10, "the reader")
    assert.is_nil(baton.holder(other))
  end)
end)
