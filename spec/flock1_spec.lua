-- `baton lock` as a drop-in for util-linux's flock(1): every form and option side by side
-- with Debian's flock(1), lslocks and Python filelock; and baton.lock_file / OFD ranges in
-- the Lua API, against the same peers.
local baton = require "baton"
local H = require "helpers"
local F = require "helpers.filelock32"

local BIN = os.getenv("BATON_BIN") or "build/5.4/bin/baton"
local q = H.quote
-- One shell line with `flock` standing for either program: both exit statuses.
local function both(line)
  local a = H.run("flock() { " .. q(BIN) .. " lock \"$@\"; }; " .. line)
  local b = H.run(line)
  return a, b
end

local function free(path) return (H.run("flock -n " .. q(path) .. " true")) == 0 end

describe("baton lock, as flock(1)", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("exits as flock(1) does for each mistake and failure", function()
    local f = q(dir .. "/l")
    for _, case in ipairs({
      "flock -n 9", "flock abc", "flock", "flock -F -o " .. f .. " true",
      "flock " .. q(dir .. "/none/l") .. " true", "flock " .. f .. " /nonexistent",
      "flock -F " .. f .. " /nonexistent", "flock -E 300 " .. f .. " true",
      "flock -w abc " .. f .. " true", "flock -s -x " .. f .. " true",
      "flock " .. f .. " sh -c 'exit 7'", "flock " .. f .. " -c 'exit 9'",
      "flock -w 0 " .. f .. " true", "flock --nb " .. f .. " true",
      "flock -u " .. q(dir .. "/none/l") .. " true", "flock -u " .. f .. " sh -c 'exit 5'",
      "exec 9>" .. f .. "; flock --verbose -n 9", "exec 9>" .. f .. "; flock -s 9 && flock -u 9",
    }) do
      local mine, theirs = both(case)
      assert.are.equal(theirs, mine, case)
    end
  end)

  it("says a missing option value in flock(1)'s words, short or long", function()
    for _, args in ipairs({ "-w", "--timeout", "-E", "--conflict-exit-code", "-n -w" }) do
      local mine, said = H.run(q(BIN) .. " lock " .. args)
      local theirs, flock_said = H.run("flock " .. args)
      assert.are.equal(theirs, mine, args)
      assert.are.equal(flock_said, (said:gsub("baton lock", "flock")), args)
    end
  end)

  it("hands the command the lock's descriptor and records the holder for baton status", function()
    local f = dir .. "/rec.lock"
    local code, out = H.run(q(BIN) .. " lock -w 5 " .. q(f) .. " sh -c "
      .. q("echo fd=$BATON_LOCK_FD; ls -l /proc/$$/fd/$BATON_LOCK_FD; " .. q(BIN) .. " status " .. q(f)))
    assert.are.equal(1, code) -- the status of `baton status`: held
    assert.matches("fd=%d+", out)
    assert.matches(f, out, 1, true)
    assert.matches("held%s+flock%s+exclusive%s+%d+%s+%d%d%d%d%-%d%d%-%d%d", out)
  end)

  it("locks a descriptor of the calling shell, and the lock outlives baton", function()
    local f = dir .. "/fd.lock"
    local code = H.run("exec 9>" .. q(f) .. "; " .. q(BIN) .. " lock -n 9 || exit 1; "
      .. "flock -n " .. q(f) .. " true; echo \"peer=$?\"; "
      .. q(BIN) .. " lock -u 9; flock -n " .. q(f) .. " true; echo \"after=$?\"")
    local _, out = H.run("exec 9>" .. q(f) .. "; " .. q(BIN) .. " lock -n 9 || exit 1; "
      .. "flock -n " .. q(f) .. " true; echo \"peer=$?\"; "
      .. q(BIN) .. " lock -u 9; flock -n " .. q(f) .. " true; echo \"after=$?\"")
    assert.are.equal(0, code)
    assert.matches("peer=1", out)
    assert.matches("after=0", out)
  end)

  it("gives up with 1 (or -E's code) on a descriptor flock(1) holds", function()
    local f = dir .. "/fd2.lock"
    H.flock_holder(f, 30)
    local code = H.run("exec 9>" .. q(f) .. "; " .. q(BIN) .. " lock -n -E 7 9")
    assert.are.equal(7, code)
    code = H.run("exec 9>" .. q(f) .. "; " .. q(BIN) .. " lock -w 0.2 9")
    assert.are.equal(1, code)
  end)

  it("--fd N runs the command holding the caller's descriptor's lock", function()
    local f = dir .. "/fd3.lock"
    local code, out = H.run("exec 8>" .. q(f) .. "; " .. q(BIN) .. " lock --fd 8 sh -c "
      .. q("flock -n " .. q(f) .. " true; echo inner=$?"))
    assert.are.equal(0, code)
    assert.matches("inner=1", out)
  end)

  it("locks a folder as flock(1) does: the same lock", function()
    local d = dir .. "/folder"
    assert(os.execute("mkdir " .. q(d)))
    local code, out = H.run(q(BIN) .. " lock " .. q(d) .. " sh -c "
      .. q("flock -n " .. q(d) .. " true; echo inner=$?"))
    assert.are.equal(0, code)
    assert.matches("inner=1", out)
    H.flock_holder(d, 30)
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n " .. q(d) .. " true")))
  end)

  it("-F runs the command in place, holding the lock", function()
    local f = dir .. "/F.lock"
    local code, out = H.run(q(BIN) .. " lock -F " .. q(f) .. " sh -c "
      .. q("flock -n " .. q(f) .. " true; echo inner=$?; echo pid=$$ ppid=$PPID"))
    assert.are.equal(0, code)
    assert.matches("inner=1", out)
    assert.is_true(free(f))
  end)

  it("stops at once for a SIGTERM that comes while the command is being started", function()
    -- 40 runs, the signal 0.5 to 8 ms after baton starts: each must end with 143 well before
    -- the command (sleep 3) would have
    local code, out = H.run("f=" .. q(dir .. "/t.lock") .. "; late=0; bad=0; "
      .. "for d in $(seq -f %.4f 0.0005 0.0002 0.0083); do s=$(date +%s%N); " .. q(BIN) .. " lock \"$f\" sleep 3 & p=$!; "
      .. "sleep $d; kill -TERM $p; wait $p; rc=$?; e=$(date +%s%N); "
      .. "[ $rc -eq 143 ] || bad=$((bad + 1)); "
      .. "[ $(( (e - s) / 1000000 )) -lt 1500 ] || late=$((late + 1)); done; "
      .. "echo late=$late bad=$bad")
    assert.are.equal(0, code)
    assert.matches("late=0 bad=0", out)
  end)

  -- Linux only: OFD byte-range locks are Linux's (ENOTSUP elsewhere), shown by lslocks
  it("--fcntl, --start and --length take OFD locks that lslocks shows with their range #linux", function()
    local f = dir .. "/ofd.lock"
    H.write(f, "")
    -- lslocks names no path for an OFD lock (its pid is -1): find it by its inode
    local ino = H.run("stat -c %i " .. q(f)) and select(2, H.run("stat -c %i " .. q(f))):match("%d+")
    local mine = "lslocks --noheadings -o TYPE,START,END,INODE | grep -E " .. q(" " .. ino .. "$")
    local _, out = H.run(q(BIN) .. " lock --start 3 --length 4 " .. q(f) .. " sh -c " .. q(mine))
    assert.matches("OFDLCK%s+3%s+6%s+" .. ino, out)
    -- a range beside it is free, an overlapping one is not
    H.spawn(q(BIN) .. " lock --start 3 --length 4 " .. q(f) .. " sleep 30")
    H.wait_for(function() return (H.run(mine)) == 0 end, 10)
    assert.are.equal(0, (H.run(q(BIN) .. " lock -n --start 7 --length 2 " .. q(f) .. " true")))
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --start 0 --length 4 " .. q(f) .. " true")))
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --fcntl " .. q(f) .. " true")))
    -- baton status and baton.holder name the holders and the range
    local code, status = H.run(q(BIN) .. " status " .. q(f))
    assert.are.equal(1, code)
    assert.matches("exclusive 3%-6", status)
    assert.matches("sleep 30", status)
    local h = baton.holder(f)
    assert.are.equal("flock", h.kind)
    assert.are.equal("fcntl", h.holders[1].api)
    assert.are.equal(3, h.holders[1].start)
    assert.are.equal(6, h.holders[1]["end"])
    -- a shared range beside another shared one
    assert.are.equal(0, (H.run(q(BIN) .. " lock -s --fcntl " .. q(dir .. "/s") .. " "
      .. q(BIN) .. " lock -n -s --fcntl " .. q(dir .. "/s") .. " true")))
  end)
end)

describe("baton lock beyond flock(1)", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  -- Linux only: baton status finds the slots' holders in the kernel's lock table
  it("--slots N takes one of N slots of baton.semaphore; baton status shows them #linux", function()
    local sem = dir .. "/builds"
    -- a slot is looked at once baton made its file (flock(1) would create it otherwise)
    local function taken(slot)
      return H.run("test -e " .. q(slot)) == 0 and not free(slot)
    end
    H.spawn(q(BIN) .. " lock --slots 2 " .. q(sem) .. " sleep 30")
    H.wait_for(function() return taken(sem .. ".1") end, 10)
    H.spawn(q(BIN) .. " lock --slots 2 " .. q(sem) .. " sleep 30")
    H.wait_for(function() return taken(sem .. ".2") end, 10)
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --slots 2 " .. q(sem) .. " true")))
    assert.are.equal(0, (H.run(q(BIN) .. " lock -n --slots 3 " .. q(sem) .. " true")))
    -- the Lua API sees the same slots
    assert.is_nil((baton.semaphore(sem, 2):try_acquire()))
    local code, out = H.run(q(BIN) .. " status " .. q(sem))
    assert.are.equal(1, code)
    assert.matches("semaphore%s+slots 1,2", out)
    assert.are.equal(64, (H.run(q(BIN) .. " lock --slots 0 " .. q(sem) .. " true")))
    assert.are.equal(64, (H.run(q(BIN) .. " lock --slots 2 --soft " .. q(sem) .. " true")))
  end)

  -- Linux only: the sides' holders (SQLite's record locks) are told by the kernel's lock table
  it("--rw -s and --rw -x take the sides of baton.rwlock (filelock's protocol) #linux", function()
    local db = dir .. "/cache.db"
    H.spawn(q(BIN) .. " lock --rw -s " .. q(db) .. " sleep 30")
    H.wait_for(function() return (H.run(q(BIN) .. " status " .. q(db))) == 1 end, 10)
    assert.are.equal(0, (H.run(q(BIN) .. " lock -n --rw -s " .. q(db) .. " true")))
    assert.are.equal(1, (H.run(q(BIN) .. " lock -n --rw -x " .. q(db) .. " true")))
    local rw = baton.rwlock(db)
    assert.is_nil((rw:try_write()))
    local _, out = H.run(q(BIN) .. " status " .. q(db))
    assert.matches("rw%s+read", out)
  end)
end)

describe("baton.lock_file", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("locks an io handle: flock(1) and filelock see it, and the handle stays open", function()
    local path = dir .. "/h.lock"
    local f = assert(io.open(path, "w"))
    local l = baton.lock_file(f)
    assert.is_true(l:is_locked())
    assert.is_false(free(path))
    local py = H.run(H.PYTHON .. " -c " .. q("import filelock, sys\ntry:\n  filelock.FileLock("
      .. string.format("%q", path) .. ").acquire(timeout=0)\nexcept filelock.Timeout:\n  sys.exit(3)"))
    assert.are.equal(3, py)
    l:release()
    assert.is_true(free(path))
    assert.are.equal("file", io.type(f))
    assert.is_true(f:write("still mine") ~= nil)
    f:close()
  end)

  it("locks a descriptor number, the same lock as filelock's lock_descriptor", function()
    local path = dir .. "/d.lock"
    if not F.AVAILABLE then return pending("needs Python filelock 3.32 in " .. F.SRC) end
    local pid = H.spawn("exec env PYTHONPATH=" .. q(F.SRC) .. " " .. H.PYTHON .. " -c " .. q(string.format([[
import os, time, filelock
fd = os.open(%q, os.O_RDWR | os.O_CREAT)
filelock.lock_descriptor(fd)
open(%q, "w").write("held")
time.sleep(30)
]], path, dir .. "/ready")))
    H.wait_file(dir .. "/ready")
    local f = assert(io.open(path, "r"))
    local fd = require("baton.core").fileno(f)
    local l, msg, code = baton.try_lock_file(fd)
    assert.is_nil(l, msg)
    assert.are.equal("busy", code)
    H.kill(pid, 9)
    l = baton.lock_file(fd, { timeout = 10 })
    assert.is_true(l:is_locked())
    l:release()
    f:close()
  end)

  it("fails clearly for a closed descriptor or handle and for misuse", function()
    local l, msg, code = baton.try_lock_file(987)
    assert.is_nil(l)
    assert.are.equal("EBADF", code)
    assert.matches("fd 987", msg)
    local f = assert(io.open(dir .. "/c", "w"))
    f:close()
    H.raises("closed", baton.lock_file, f)
    H.raises("expected a file handle or a descriptor number", baton.lock_file, "x")
    H.raises("unknown option", baton.lock_file, 1, { bogus = true })
  end)

  -- Linux only: OFD byte-range locks are Linux's (ENOTSUP elsewhere)
  it("takes OFD byte ranges on paths and descriptors #linux", function()
    local path = dir .. "/r.lock"
    local a = baton.lock(path, { api = "fcntl", start = 0, length = 10 })
    local b, _, code = baton.try_lock(path, { api = "fcntl", start = 5, length = 10 })
    assert.is_nil(b)
    assert.are.equal("busy", code)
    local c = baton.lock(path, { start = 10, length = 10 })
    assert.are.equal(1, (H.run("flock -n --fcntl " .. q(path) .. " true 2>/dev/null || "
      .. q(BIN) .. " lock -n --start 12 --length 1 " .. q(path) .. " true")))
    local f = assert(io.open(path, "r"))
    local s = baton.lock_file(f, { api = "fcntl", shared = true, start = 30, length = 1 })
    assert.is_true(s:is_locked())
    s:release(); c:release(); a:release()
    assert.are.equal(0, (H.run(q(BIN) .. " lock -n --fcntl " .. q(path) .. " true")))
    f:close()
    H.raises("must be \"flock\" or \"fcntl\"", baton.lock, path, { api = "posix" })
  end)
end)
