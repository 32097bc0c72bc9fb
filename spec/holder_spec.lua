-- baton.holder: who holds a lock, taken by any program (flock(1), Python filelock, baton),
-- flock or soft; nil when nobody does; never an error for a free or missing lock.
local baton = require "baton"
local core = require "baton.core"
local core_test = require "baton.core_test"
local H = require "helpers"

local MY_PID = tonumber(H.read("/proc/self/stat"):match("^(%d+)"))

local raises = H.raises

local function kill_and_reap(pid, sig)
  H.kill(pid, sig or "KILL")
  H.wait_for(function() return not H.alive(pid) end, 10, "pid " .. pid .. " to end")
end

-- A baton process holding `path` (a flock lock, or with kind "soft") with a note.
local HOLDER = [[
local baton = require "baton"
local path, ready, kind, note = arg[1], arg[2], arg[3], arg[4]
local l = baton.lock(path, { kind = kind, note = note, timeout = 10 })
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
baton.sleep(30)
]]
local function baton_holder(path, kind, note)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(H.script(HOLDER), path, ready, kind, note))
  H.wait_file(ready)
  return pid
end

describe("baton.holder", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
  end)
  after_each(H.cleanup)

  describe("flock locks", function()
    it("names the pid of a flock(1) process, with its command line and start time #linux", function()
      local pid = H.flock_holder(path, 30)
      local h = baton.holder(path)
      assert.equal("flock", h.kind)
      assert.equal(pid, h.pid)
      assert.equal(core.hostname(), h.host)
      assert.is_true(h.alive)
      assert.is_false(h.shared)
      assert.matches("^flock ", h.cmdline)
      assert.matches(path, h.cmdline, 1, true)
      assert.is_true(h.started <= os.time() + 1 and h.started > os.time() - 120)
      assert.is_nil(h.note)
      assert.is_nil(h.since) -- flock(1) publishes nothing
      assert.equal(1, #h.holders)
      assert.equal(pid, h.holders[1].pid)
      kill_and_reap(pid, "TERM")
      assert.is_nil(baton.holder(path))
    end)

    it("names the pid of a Python filelock process #linux", function()
      local pid = H.python_holder(path, 30)
      local h = baton.holder(path)
      assert.equal("flock", h.kind)
      assert.equal(pid, h.pid)
      assert.matches("python3", h.cmdline, 1, true)
      kill_and_reap(pid)
      assert.is_nil(baton.holder(path))
    end)

    it("lists every holder of a shared lock #linux", function()
      local a = H.flock_holder(path, 30, "-s")
      local b = H.flock_holder(path, 30, "-s")
      local mine = baton.lock(path, { shared = true, note = "reader three" })
      local h = baton.holder(path)
      assert.is_true(h.shared)
      local pids = {}
      for _, e in ipairs(h.holders) do
        assert.is_true(e.shared)
        pids[e.pid] = e
      end
      assert.is_truthy(pids[a])
      assert.is_truthy(pids[b])
      assert.equal("reader three", pids[MY_PID].note)
      assert.equal(3, #h.holders)
      mine:release()
      kill_and_reap(a)
      kill_and_reap(b)
    end)

    it("gives a baton holder's note and since-time", function()
      local t0 = os.time()
      local pid = baton_holder(path, "flock", "nightly backup")
      local h = baton.holder(path)
      assert.equal(pid, h.pid)
      assert.equal("nightly backup", h.note)
      assert.is_true(h.since >= t0 - 1 and h.since <= os.time() + 1)
      kill_and_reap(pid)
    end)

    it("knows this process's own locks and forgets them on release", function()
      local l = baton.lock(path, { note = "mine" })
      local h = baton.holder(path)
      assert.equal(MY_PID, h.pid)
      assert.equal("mine", h.note)
      l:release()
      assert.is_nil(baton.holder(path))
      local l2 = baton.new(path)
      l2:acquire({ note = "per acquisition" })
      assert.equal("per acquisition", baton.holder(path).note)
      l2:release()
    end)

    it("never trusts a record over the kernel: a killed holder's record shows nothing", function()
      local pid = baton_holder(path, "flock", "about to die")
      assert.equal("about to die", baton.holder(path).note)
      kill_and_reap(pid) -- its record table is left behind; the kernel freed the lock
      assert.is_nil(baton.holder(path))
      local l = baton.lock(path)
      local h = baton.holder(path)
      assert.equal(MY_PID, h.pid)
      assert.is_nil(h.note)
      l:release()
    end)

    -- A holder's record table is a file of its owner's, read by anyone who asks: its owner
    -- may cut it short or scribble over it at any moment, and the reader must not crash.
    it("reads a record table its owner cuts short or scribbles over, without crashing", function()
      local pid = baton_holder(path, "flock", "scribbled")
      local uid = select(2, H.run("id -u")):match("%d+")
      local table_file
      for _, base in ipairs({ "/dev/shm", "/tmp" }) do
        -- PID-TOKEN, or rPID-rHEX where the system tells no start token
        local folder = base .. "/baton-" .. uid
        local _, names = H.run("ls -A " .. H.quote(folder) .. " 2>/dev/null")
        for name in names:gmatch("[^\n]+") do
          if not table_file and (name:match("^" .. pid .. "%-%d+$") or name:match("^r" .. pid .. "%-r%x+$")) then
            table_file = folder .. "/" .. name
          end
        end
      end
      assert.is_string(table_file)
      -- with the kernel's lock table the holder is known without the record; else only by it
      local by_table = core.platform.lock_table
      assert.equal("scribbled", baton.holder(path).note)
      local size = #H.read(table_file)
      -- cut short and grown back (to zeros) over and over while being read
      local racer = H.spawn(H.PYTHON .. " -c " .. H.quote(string.format([[
import os, time
end = time.time() + 20
while time.time() < end:
    os.truncate(%q, 0)
    os.truncate(%q, %d)
]], table_file, table_file, size)))
      for _ = 1, 3000 do
        local h = baton.holder(path) -- nil where the record was unreadable and no table tells
        if by_table or h then
          assert.equal(pid, h.pid)
          assert.is_true(h.note == nil or h.note == "scribbled")
        end
      end
      kill_and_reap(racer)
      -- garbage of the right size, and a file cut short: no note, the kernel's word stands
      local junk = {}
      for i = 1, size do junk[i] = string.char((i * 131 + 7) % 256) end
      H.write(table_file, table.concat(junk))
      assert.is_nil((baton.holder(path) or {}).note)
      H.write(table_file, "baton-h1")
      local h = baton.holder(path) or {}
      if by_table then assert.equal(pid, h.pid) end
      assert.is_nil(h.note)
      kill_and_reap(pid)
    end)

    it("is what on_wait is told while waiting", function()
      local pid = baton_holder(path, "flock", "holding on")
      local seen
      local l = baton.try_lock(path, { timeout = 0.3, warn_after = 0.05,
        on_wait = function(info) seen = info end })
      assert.is_nil(l)
      assert.equal(pid, seen.holder.pid)
      assert.equal("holding on", seen.holder.note)
      kill_and_reap(pid)
    end)
  end)

  describe("soft locks", function()
    it("says what the marker says, and whether its owner is alive", function()
      -- our own child, reaped below: a killed orphan may stay a zombie (where init does not
      -- reap), which only /proc tells from a live process
      local ready = H.tmpdir() .. "/ready"
      local holder = assert(baton.spawn{ H.LUA, H.script(HOLDER), path, ready, "soft", "building" })
      H.wait_file(ready)
      local pid = holder.pid
      local h = baton.holder(path)
      assert.equal("soft", h.kind)
      assert.equal(pid, h.pid)
      assert.equal(core.hostname(), h.host)
      assert.equal("building", h.note)
      assert.equal(core.token(pid), h.token)
      assert.is_true(h.alive)
      assert.is_false(h.stale)
      if core.platform.cmdline then assert.matches("lua", h.cmdline) end
      holder:kill("KILL")
      assert(holder:wait(10))
      h = baton.holder(path)
      assert.equal(pid, h.pid)
      assert.is_false(h.alive)
      assert.is_true(h.stale)
      assert.is_nil(h.note)
    end)

    it("cannot tell about another host's owner", function()
      H.write(path, "77\nelsewhere\n123\n")
      local h = baton.holder(path)
      assert.equal("soft", h.kind)
      assert.equal(77, h.pid)
      assert.equal("elsewhere", h.host)
      assert.is_nil(h.alive)
      assert.is_false(h.stale)
      assert.is_nil(h.cmdline)
    end)

    it("finds the holder of an ownerless marker when asked for a soft lock", function()
      H.write(path, "")
      assert.is_nil(baton.holder(path)) -- an empty file alone is no evidence
      local h = baton.holder(path, { kind = "soft" })
      assert.equal("soft", h.kind)
      assert.is_nil(h.pid)
      assert.is_true(h.malformed)
      assert.equal(0, #h.holders)
    end)
  end)

  describe("nobody holding it", function()
    it("is nil for a free file, a missing file or folder, and a folder", function()
      H.write(path, "")
      assert.is_nil(baton.holder(path))
      assert.is_nil(baton.holder(dir .. "/missing"))
      assert.is_nil(baton.holder(dir .. "/no/such/folder"))
      assert.is_nil(baton.holder(dir))
      assert.is_nil(baton.holder(path, { kind = "flock" }))
      assert.is_nil(baton.holder(dir .. "/missing", { kind = "soft" }))
      baton.lock(path):release()
      assert.is_nil(baton.holder(path))
    end)
  end)

  describe("bad input", function()
    it("raises clear errors for misuse", function()
      raises("baton.holder: the lock path must be a string, got nil", baton.holder)
      raises("the lock path must be a string, got number", baton.holder, 5)
      raises("the lock path is empty", baton.holder, "")
      raises("contains a NUL byte", baton.holder, dir .. "/a\0b")
      local err = raises("options must be a table, got string", baton.holder, path, "soft")
      assert.matches(path, err, 1, true)
      raises("unknown option 'knd'", baton.holder, path, { knd = "soft" })
      raises("option 'kind' must be \"flock\", \"soft_rw\" or \"soft\", got rw", baton.holder, path,
        { kind = "rw" })
    end)
  end)

  describe("the parsers", function()
    it("read /proc/locks lines for one file, skipping waiters and other locks", function()
      local text = table.concat({
        "1: POSIX  ADVISORY  WRITE 100 fd:01:123 0 EOF",
        "2: FLOCK  ADVISORY  WRITE 200 fd:01:123 0 EOF",
        "2: -> FLOCK  ADVISORY  WRITE 201 fd:01:123 0 EOF",
        "3: FLOCK  ADVISORY  READ  300 fd:01:124 0 EOF",
        "4: FLOCK  ADVISORY  READ  400 FD:01:123 0 EOF",
        "5: FLOCK  ADVISORY  READ  400 fd:01:123 0 EOF",
        "6: OFDLCK ADVISORY  READ  -1 fd:01:123 0 EOF",
        "7: FLOCK  ADVISORY  READ  -1 fd:01:123 0 EOF",
        "8: FLOCK  ADVISORY  WRITE 500 0fd:001:00123 0 EOF",
        "9: FLOCK  ADVISORY  WRITE 600 fd:01:1234 0 EOF",
        "garbage", "", "10: FLOCK",
      }, "\n")
      local got = core_test.parse_locks(text, 0xfd, 1, "123")
      assert.same({ { pid = 200, shared = false }, { pid = 400, shared = true }, { shared = true },
        { pid = 500, shared = false } }, got)
      assert.same({}, core_test.parse_locks(text, 0xfd, 2, "123"))
      assert.same({ { pid = 300, shared = true } }, core_test.parse_locks(text, 0xfd, 1, "124"))
      -- any device (where stat and /proc/locks disagree on it, e.g. btrfs subvolumes)
      assert.same({ { pid = 200, shared = false }, { pid = 400, shared = true }, { shared = true },
        { pid = 500, shared = false } }, core_test.parse_locks(text, nil, nil, "123"))
      assert.same({ { pid = 600, shared = false } }, core_test.parse_locks(text, nil, nil, "1234"))
      -- device numbers that are not whole numbers from 0 to 2^32-1 are refused
      for _, bad in ipairs({ -1, 2 ^ 32, 2 ^ 64, 0 / 0, math.huge, 1.5 }) do
        raises("a device number must be a whole number", core_test.parse_locks, text, bad, 1, "123")
        raises("a device number must be a whole number", core_test.parse_locks, text, 0xfd, bad, "123")
      end
    end)

    it("find this process's own flock in the real /proc/locks #linux", function()
      local l = baton.lock(path)
      local got = core_test.flock_holders(path)
      assert.same({ { pid = MY_PID, shared = false } }, got)
      l:release()
      assert.same({}, core_test.flock_holders(path))
    end)

    it("read the markers filelock and baton write, and nothing else", function()
      local cases = {
        { "123\nhost\n456\n", { pid = 123, host = "host", token = "456" } },
        { "123\nhost\n", { pid = 123, host = "host" } },
        { "  123\r\nhost\r\n0000456\r\n\n", { pid = 123, host = "host", token = "456" } },
        { "123\rhost", { pid = 123, host = "host" } },
        { "filelock/2\npid=9\nhost=h\nmode=exclusive\nstart=77\nfuture=x\n",
          { pid = 9, host = "h", token = "77" } },
        { "", nil }, { "\n\n", nil }, { "123\n", nil }, { "abc\nhost\n", nil },
        { "0\nhost\n", nil }, { "-5\nhost\n", nil }, { "2147483648\nhost\n", nil },
        { "123\nhost\n12x\n", nil }, { "1\n2\n3\n4\n", nil }, { "123\n\nhost\n", nil },
        { "filelock/2\npid=9\nhost=h\n", nil }, { "filelock/2\npid=9\nmode=lease\nhost=h\nbad\n", nil },
        { "123\nhost\n" .. string.rep("9", 70) .. "\n", nil },
        { string.rep("1\nh\n", 3000), nil },
      }
      for _, c in ipairs(cases) do
        assert.same(c[2], core_test.parse_marker(c[1]), string.format("%q", c[1]))
      end
    end)

    it("read /proc/PID/stat even when the command name holds spaces and parentheses", function()
      local line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " ..
        "987654321 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
      assert.same({ "S", "987654321" }, { core_test.parse_stat(line) })
      assert.is_nil(core_test.parse_stat("4242 (x) S 1 2 3"))
      assert.is_nil(core_test.parse_stat("no parenthesis here"))
      local mine = H.read("/proc/self/stat")
      assert.equal("R", (core_test.parse_stat(mine)))
    end)

    it("find the boot time in /proc/stat, also after an interrupt line of tens of kilobytes #linux", function()
      local intr = "intr 123456" .. string.rep(" 0", 20000)
      local text = "cpu  1 2 3 4\ncpu0 1 2 3 4\n" .. intr .. "\nctxt 99\nbtime 1700000000\n" ..
        "processes 5\n"
      assert.equal(1700000000, core_test.parse_btime(text))
      assert.equal(1700000000, core_test.parse_btime("btime 1700000000"))
      assert.is_nil(core_test.parse_btime("xbtime 1700000000\n"))
      assert.is_nil(core_test.parse_btime("btime -5\n"))
      assert.is_nil(core_test.parse_btime("btime 99999999999999999999999\n"))
      assert.is_nil(core_test.parse_btime("btime \n"))
      assert.is_nil(core_test.parse_btime(intr))
      local real = core_test.parse_btime(H.read("/proc/stat"))
      assert.is_true(real > 0 and real <= os.time())
      -- a process's start time is counted from it
      local p = core.process(tonumber(H.read("/proc/self/stat"):match("^(%d+)")))
      assert.is_true(p.started >= real and p.started <= os.time() + 1)
    end)
  end)
end)
