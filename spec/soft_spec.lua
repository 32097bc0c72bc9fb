-- Soft locks against real peers: other baton processes, Python's filelock, processes that
-- are killed, stopped, or whose pid names someone else, and many breakers at once.
local baton = require "baton"
local core = require "baton.core"
local core_test = require "baton.core_test"
local H = require "helpers"

local MY_PID = tonumber(H.read("/proc/self/stat"):match("^(%d+)"))

-- A baton process holding a soft lock on `path` for `seconds`; returns its pid once it holds.
local SOFT_HOLDER = [[
local baton = require "baton"
local path, ready, seconds, note = arg[1], arg[2], tonumber(arg[3]), arg[4]
local l = baton.soft_lock(path, { timeout = 10, note = note ~= "" and note or nil })
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
baton.sleep(seconds)
l:release()
]]
local function soft_holder(path, seconds, note)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(H.script(SOFT_HOLDER), path, ready, seconds or 30, note or ""))
  H.wait_file(ready)
  return pid
end

-- Python's filelock (Debian's 3.9) holding a SoftFileLock; returns its pid once it holds.
local function python_soft_holder(path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local code = string.format([[
import filelock, time
l = filelock.SoftFileLock(%q)
l.acquire()
open(%q, "w").write("held")
time.sleep(%s)
l.release()
]], path, ready, seconds or 30)
  local pid = H.spawn(H.PYTHON .. " -c " .. H.quote(code))
  H.wait_file(ready)
  return pid
end

-- Python's own view of a process: "token\nhostname", computed as filelock >= 3.29 does.
local function python_identity(pid)
  local code = [[
import socket, sys
pid = int(sys.argv[1])
boot = int(open("/proc/sys/kernel/random/boot_id").read().strip().replace("-", ""), 16)
start = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19])
print((boot << 64) | start)
print(socket.gethostname())
]]
  local rc, out = H.run(H.PYTHON .. " -c " .. H.quote(code) .. " " .. pid)
  assert(rc == 0, out)
  return out:match("^(%d+)\n([^\n]*)")
end

-- A process that lives until killed, standing for a holder that is not baton.
-- Our own children, reaped by kill_and_reap: a killed orphan may stay a zombie (where init
-- does not reap), which only /proc tells from a live process.
local sleepers = {}

local function sleeper()
  local p = assert(baton.spawn{ "sleep", "60" })
  sleepers[p.pid] = p
  return p.pid
end

local function kill_and_reap(pid, sig)
  local p = sleepers[pid]
  if p then
    sleepers[pid] = nil
    p:kill(sig or "KILL")
    assert(p:wait(10), "pid " .. pid .. " to end")
    return
  end
  H.kill(pid, sig or "KILL")
  H.wait_for(function() return not H.alive(pid) end, 10, "pid " .. pid .. " to end")
end

local function set_age(path, seconds)
  assert(os.execute(string.format("touch -m -d '%d seconds ago' %s", seconds, H.quote(path))))
end

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.is_string(err)
  assert.matches(pattern, err, 1, true)
  return err
end

describe("soft locks", function()
  local dir, path, host
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
    host = core.hostname()
  end)
  after_each(H.cleanup)

  describe("the marker", function()
    it("holds pid, host and start token exactly as Python filelock computes them #linux", function()
      local l = baton.soft_lock(path)
      local token, py_host = python_identity(MY_PID)
      assert.equal(MY_PID .. "\n" .. py_host .. "\n" .. token .. "\n", H.read(path))
      assert.equal(py_host, host)
      assert.equal(token, core.token(MY_PID))
      l:release()
      assert.is_nil(H.read(path))
    end)

    it("computes (boot << 64) | starttime in decimal like Python, at the edges too", function()
      local cases = {
        { "00000000-0000-0000-0000-000000000000", "0" },
        { "00000000-0000-0000-0000-000000000001", "0" },
        { "ffffffff-ffff-ffff-ffff-ffffffffffff", "18446744073709551615" },
        { "80000000-0000-0000-0000-000000000000", "1" },
        { "ad92ebdd-136f-4c4c-b34d-5d603d91d39b", "4294967296" },
        { "0000000000000000000000003b9aca00", "999999999" },
        { H.read("/proc/sys/kernel/random/boot_id"), "123456789012" },
      }
      local lines = {}
      for _, c in ipairs(cases) do
        lines[#lines + 1] = string.format("print((int(%q.strip().replace('-', ''), 16) << 64) | %s)",
          c[1], c[2])
      end
      local rc, out = H.run(H.PYTHON .. " -c " .. H.quote(table.concat(lines, "\n")))
      assert.equal(0, rc, out)
      local i = 0
      for want in out:gmatch("(%d+)\n") do
        i = i + 1
        assert.equal(want, core_test.start_token(cases[i][1], cases[i][2]))
      end
      assert.equal(#cases, i)
    end)

    it("is created with mode 0644 masked by the umask, or the given mode", function()
      local script = H.script([[
        local baton = require "baton"
        local a = baton.soft_lock(arg[1])
        local b = baton.soft_lock(arg[2], { mode = "0600" })
        os.execute("stat -c %a '" .. arg[1] .. "' '" .. arg[2] .. "'")
        a:release(); b:release()
      ]])
      local code, out = H.run("umask 022; " .. H.lua_cmd(script, path, path .. "2"))
      assert.equal(0, code, out)
      assert.equal("644\n600\n", out)
    end)

    it("is created in missing folders, or not with mkdir = false", function()
      local deep = dir .. "/a/b/c.lock"
      baton.soft_lock(deep):release()
      local l, msg, code = baton.try_lock(dir .. "/x/y.lock", { kind = "soft", mkdir = false })
      assert.is_nil(l)
      assert.equal("ENOENT", code)
      assert.matches(dir .. "/x/y.lock", msg, 1, true)
    end)

    it("is removed on release only while it is still ours", function()
      local l = baton.soft_lock(path)
      os.remove(path)
      H.write(path, "someone else's\n")
      l:release()
      assert.equal("someone else's\n", H.read(path))
    end)
  end)

  describe("exclusion", function()
    it("excludes another baton process and waits for its release", function()
      local pid = soft_holder(path, 0.5)
      local l, msg, code = baton.try_lock(path, { kind = "soft" })
      assert.is_nil(l)
      assert.equal("busy", code)
      assert.matches(path, msg, 1, true)
      local got = baton.soft_lock(path, { timeout = 5 })
      assert.is_true(got:is_locked())
      -- the holder releases just before it exits: its end may come a moment later
      H.wait_for(function() return not H.alive(pid) end, 5, "the holder's end")
      assert.matches("^" .. MY_PID .. "\n", H.read(path))
      got:release()
    end)

    it("makes two objects in one process exclude each other, and is reentrant per object", function()
      local a = baton.new(path, { kind = "soft" })
      a:acquire()
      a:acquire()
      assert.equal(2, a:count())
      local b = baton.new(path, { kind = "soft" })
      assert.equal("busy", select(3, b:try_acquire()))
      a:release()
      assert.equal("busy", select(3, b:try_acquire()))
      a:release()
      assert.is_nil(H.read(path))
      assert.equal(b, b:try_acquire())
      b:release()
    end)

    it("is respected by Python filelock, and respects it", function()
      local probe = string.format([[
import filelock, sys
try:
    filelock.SoftFileLock(%q).acquire(timeout=0)
except filelock.Timeout:
    sys.exit(3)
]], path)
      local l = baton.soft_lock(path)
      assert.equal(3, (H.run(H.PYTHON .. " -c " .. H.quote(probe))))
      l:release()
      assert.equal(0, (H.run(H.PYTHON .. " -c " .. H.quote(probe))))
      os.remove(path) -- the probe acquired and exited without releasing
    end)

    it("passes timeout, sleep, cancel and on_wait through like flock locks", function()
      local pid = soft_holder(path, 30, "building the index")
      local t0 = baton.now()
      local l, msg, code = baton.try_lock(path, { kind = "soft", timeout = 0.3 })
      assert.is_nil(l)
      assert.equal("timeout", code)
      assert.matches("timed out", msg)
      assert.is_true(baton.now() - t0 >= 0.3)
      local slept, seen = 0, nil
      local _, _, code2 = baton.try_lock(path, { kind = "soft", timeout = 5,
        sleep = function(s) slept = slept + 1; baton.sleep(s) end,
        warn_after = 0.05, on_wait = function(info) seen = info end,
        cancel = function() return slept >= 20 end })
      assert.equal("cancelled", code2)
      assert.is_truthy(seen)
      assert.equal(pid, seen.holder.pid)
      assert.equal("soft", seen.holder.kind)
      assert.equal("building the index", seen.holder.note)
      kill_and_reap(pid)
    end)
  end)

  describe("stale markers", function()
    it("takes over from a holder killed with SIGKILL, within the waiter's timeout", function()
      local pid = soft_holder(path, 30)
      local killed = false
      local l = baton.soft_lock(path, { timeout = 5, sleep = function(s)
        if not killed then killed = true; H.kill(pid, "KILL") end
        baton.sleep(s)
      end })
      assert.is_true(killed)
      assert.is_true(l:is_locked())
      assert.matches("^" .. MY_PID .. "\n", H.read(path))
      l:release()
      assert.is_nil(H.read(path))
    end)

    it("never takes a live holder's marker, also not a stopped one (SIGSTOP)", function()
      local pid = soft_holder(path, 30)
      H.kill(pid, "STOP")
      local before = H.read(path)
      local ok, err = pcall(baton.soft_lock, path, { timeout = 2.5 })
      assert.is_false(ok)
      assert.matches("timed out", err)
      assert.equal(before, H.read(path))
      H.kill(pid, "CONT")
      kill_and_reap(pid)
      baton.soft_lock(path, { timeout = 5 }):release()
    end)

    it("detects a recycled pid: a live pid whose start token differs #linux", function()
      local pid = sleeper()
      local token = python_identity(pid)
      H.write(path, pid .. "\n" .. host .. "\n" .. token .. "\n")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      local other = token:sub(1, -2) .. tostring((tonumber(token:sub(-1)) + 1) % 10)
      assert.are_not.equal(token, other)
      H.write(path, pid .. "\n" .. host .. "\n" .. other .. "\n")
      local l = baton.soft_lock(path, { timeout = 0 })
      assert.matches("^" .. MY_PID .. "\n", H.read(path))
      l:release()
      kill_and_reap(pid)
    end)

    it("respects a three-line marker written for a live process, and breaks it once it is gone", function()
      local pid = sleeper()
      local token, py_host = python_identity(pid)
      H.write(path, string.format("%d\n%s\n%s\n", pid, py_host, token))
      local ok = pcall(baton.soft_lock, path, { timeout = 0.5 })
      assert.is_false(ok)
      kill_and_reap(pid)
      local l = baton.soft_lock(path, { timeout = 0 })
      l:release()
    end)

    it("respects a two-line marker (filelock before start tokens) while its pid lives", function()
      local pid = sleeper()
      H.write(path, pid .. "\r\n" .. host .. "\r\n")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      kill_and_reap(pid)
      baton.soft_lock(path, { timeout = 0 }):release()
    end)

    -- Linux only: who has the empty marker open: /proc/PID/fd
    it("respects Python filelock's own marker while Python holds it, and breaks it once stale #linux", function()
      -- Debian's filelock 3.9 writes nothing into its marker but keeps it open while it
      -- holds the lock, so an empty marker is held for as long as a process has it open.
      local pid = python_soft_holder(path, 30)
      assert.equal("", H.read(path))
      local ok, err = pcall(baton.soft_lock, path, { timeout = 3 })
      assert.is_false(ok)
      assert.matches("timed out", err)
      local h = baton.holder(path, { kind = "soft" })
      assert.equal(pid, h.pid)
      assert.is_true(h.alive)
      H.kill(pid, "KILL")
      local l = baton.soft_lock(path, { timeout = 10 })
      assert.matches("^" .. MY_PID .. "\n", H.read(path))
      l:release()
    end)

    it("keeps an empty marker (filelock 3.9) for 2 s, then breaks it", function()
      H.write(path, "")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      set_age(path, 3)
      baton.soft_lock(path, { timeout = 0 }):release()
      H.write(path, "")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      local l = baton.soft_lock(path, { timeout = 10 })
      l:release()
    end)

    it("never breaks another host's marker unless told how old is too old", function()
      H.write(path, "1234\nsome-other-host\n99\n")
      set_age(path, 100)
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft", stale_after = 1000 })))
      local l = baton.soft_lock(path, { stale_after = 60, timeout = 0 })
      assert.matches("^" .. MY_PID .. "\n", H.read(path))
      l:release()
    end)

    it("reads filelock's protocol 2 marker and respects its live owner", function()
      local pid = sleeper()
      H.write(path, "filelock/2\npid=" .. pid .. "\nhost=" .. host .. "\nmode=exclusive\n")
      assert.equal("busy", select(3, baton.try_lock(path, { kind = "soft" })))
      kill_and_reap(pid)
      baton.soft_lock(path, { timeout = 0 }):release()
    end)
  end)

  it("never removes a fresh marker while many processes break stale ones", function()
    -- Workers take the lock in turn. Every other round the holder "crashes": its marker is
    -- replaced by one naming a process that is gone, and the waiters (polling hard through
    -- the sleep option) race to break it. A worker that finds its marker gone or replaced
    -- while it holds the lock, or someone else inside, reports it; the shared counter must
    -- come out exact.
    local dead = tonumber(select(2, H.run("sh -c 'echo $$'")):match("%d+"))
    local workers, rounds = 6, 300
    local counter, inside = dir .. "/counter", dir .. "/inside"
    H.write(counter, "0")
    local script = H.script([[
      local baton = require "baton"
      local path, counter, inside, dead, rounds, id, out =
        arg[1], arg[2], arg[3], arg[4], tonumber(arg[5]), arg[6], arg[7]
      local me = tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)"))
      local function read(p) local f = io.open(p, "rb"); if not f then return nil end
        local s = f:read("*a"); f:close(); return s end
      local function write(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end
      local host = require("baton.core").hostname()
      local l = baton.new(path, { kind = "soft", timeout = 60,
        sleep = function() baton.sleep(0.0002) end })
      local bad = {}
      local function mine(when)
        if not (read(path) or ""):match("^" .. me .. "\n") then bad[#bad + 1] = "not mine " .. when end
      end
      for r = 1, rounds do
        l:acquire()
        mine("on entry")
        if read(inside) then bad[#bad + 1] = "someone inside" end
        write(inside, id)
        local v = tonumber(read(counter))
        if not v then bad[#bad + 1] = "counter torn"; v = 0 end
        write(counter, tostring(v + 1))
        if read(inside) ~= id then bad[#bad + 1] = "inside overwritten" end
        mine("on exit")
        os.remove(inside)
        if r % 2 == 0 then
          local tmp = path .. ".crash." .. id
          write(tmp, dead .. "\n" .. host .. "\n1\n")
          assert(os.rename(tmp, path))
        end
        l:release()
      end
      write(out, table.concat(bad, ","))
    ]])
    local start, join, outs = {}, {}, {}
    for i = 1, workers do
      outs[i] = dir .. "/out" .. i
      start[i] = H.lua_cmd(script, path, counter, inside, dead, rounds, "w" .. i, outs[i]) ..
        " & p" .. i .. "=$!;"
      join[i] = "wait $p" .. i
    end
    local code, out = H.run(table.concat(start, " ") .. table.concat(join, " && "))
    assert.equal(0, code, out)
    for i = 1, workers do assert.equal("", H.read(outs[i])) end
    assert.equal(tostring(workers * rounds), H.read(counter))
    local rc, listing = H.run("ls -A " .. H.quote(dir))
    assert.equal(0, rc)
    assert.is_nil(listing:match("baton%-break"), listing)
  end)

  describe("the first process builds, the others wait (examples/build_once.lua)", function()
    local function run_all(out, n, seconds)
      local start, join, logs = {}, {}, {}
      for i = 1, n do
        logs[i] = dir .. "/log" .. i
        start[i] = H.lua_cmd("examples/build_once.lua", out, seconds) .. " >" .. logs[i] ..
          " 2>&1 & p" .. i .. "=$!;"
        join[i] = "wait $p" .. i
      end
      local code, out_text = H.run(table.concat(start, " ") .. table.concat(join, " && "))
      local built, used = 0, 0
      for i = 1, n do
        local log = H.read(logs[i])
        if log:match("built ") then built = built + 1 end
        if log:match("used .- %(11 lines%)") then used = used + 1 end
      end
      return code, out_text, built, used
    end

    it("builds once and every process uses the whole result", function()
      local out = dir .. "/result.txt"
      local code, text, built, used = run_all(out, 5, 0.5)
      assert.equal(0, code, text)
      assert.equal(1, built)
      assert.equal(5, used)
      assert.is_nil(H.read(out .. ".lock"))
    end)

    it("takes over from a builder killed half-way, and nobody loads half a result", function()
      local out = dir .. "/result.txt"
      local first = H.spawn(H.lua_cmd("examples/build_once.lua", out, 20))
      H.wait_for(function() return (H.read(out .. ".partial") or ""):match("line 2") end, 10,
        "the first builder to be half-way")
      kill_and_reap(first)
      assert.is_nil(H.read(out))
      local code, text, built, used = run_all(out, 4, 0.3)
      assert.equal(0, code, text)
      assert.equal(1, built)
      assert.equal(4, used)
    end)
  end)

  describe("bad input", function()
    it("reports what is at the path when it cannot be a marker", function()
      assert(os.execute("ln -s /nonexistent " .. H.quote(path)))
      local l, msg, code = baton.try_lock(path, { kind = "soft" })
      assert.is_nil(l)
      assert.equal("ELOOP", code)
      assert.matches("symbolic link", msg)
      assert.matches(path, msg, 1, true)
      raises("symbolic link", baton.soft_lock, path)
      os.remove(path)
      assert(os.execute("mkdir " .. H.quote(path)))
      assert.equal("EISDIR", select(3, baton.try_lock(path, { kind = "soft" })))
    end)

    it("refuses a file far longer than any marker instead of breaking it", function()
      local data = string.rep("precious data\n", 1000)
      H.write(path, data)
      set_age(path, 100)
      local l, msg, code = baton.try_lock(path, { kind = "soft" })
      assert.is_nil(l)
      assert.equal("EEXIST", code)
      assert.matches("holds other data", msg)
      assert.matches(path, msg, 1, true)
      assert.equal(data, H.read(path))
    end)

    it("rejects misuse with errors naming the problem and the path", function()
      raises("path must be a string, got nil", baton.soft_lock)
      raises("lock path is empty", baton.soft_lock, "")
      raises("options must be a table, got string", baton.soft_lock, path, "x")
      raises("option 'shared' does not apply to soft locks, which are exclusive", baton.soft_lock,
        path, { shared = true })
      raises("option 'kind' must be \"soft\" here, got flock", baton.soft_lock, path, { kind = "flock" })
      raises("option 'stale_after' must not be negative", baton.soft_lock, path, { stale_after = -1 })
      raises("option 'stale_after' must be a number, got string", baton.soft_lock, path,
        { stale_after = "1" })
      local err = raises("option 'stale_after' does not apply to flock locks", baton.new, path,
        { stale_after = 5 })
      assert.matches(path, err, 1, true)
      raises("unknown option 'stale'", baton.soft_lock, path, { stale = 5 })
    end)
  end)
end)
