-- Soft leases against Python filelock 3.32's SoftFileLease on the same marker: the protocol-2
-- marker (mode=lease, duration=), the heartbeat that keeps it young, taking it once stale.
local baton = require "baton"
local H = require "helpers"
local F = require "helpers.filelock32"

local function lease(seconds) return "filelock.SoftFileLease(%q, lease_duration=" .. seconds .. ")" end

-- A baton process holding a lease of `seconds` at `path` until killed. It polls is_locked()
-- and writes what on_lost and release() said into `out` once the lease is lost.
local LEASE_HOLDER = [[
local baton = require "baton"
local path, seconds, ready, out = arg[1], tonumber(arg[2]), arg[3], arg[4]
local told
local l = baton.soft_lock(path, { lease = seconds, on_lost = function(info)
  told = (told or 0) + 1
  local f = assert(io.open(out .. ".lost", "w")); f:write(info.reason, "\n", info.message); f:close()
end })
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
while l:is_locked() do baton.sleep(0.02) end
local ok, msg, code = l:release()
f = assert(io.open(out, "w"))
f:write(tostring(ok), "\n", tostring(code), "\n", tostring(told), "\n", tostring(msg))
f:close()
]]

local function baton_holder(path, seconds)
  local dir = H.tmpdir()
  local pid = H.spawn(H.lua_cmd(H.script(LEASE_HOLDER), path, seconds, dir .. "/ready", dir .. "/out"))
  H.wait_file(dir .. "/ready")
  return pid, dir .. "/out"
end

describe("a soft lease", function()
  after_each(H.cleanup)
  if not F.AVAILABLE then
    pending("needs Python filelock 3.32 in " .. F.SRC)
    return
  end

  it("publishes filelock's protocol-2 lease marker", function()
    local path = H.tmpdir() .. "/job.lock"
    local l = baton.soft_lock(path, { lease = 2.5 })
    local text = H.read(path)
    -- the start line where the system tells when a process started
    local start = require("baton.core").platform.started and "start=%d+\n" or ""
    assert.matches("^filelock/2\npid=%d+\nhost=[^\n]+\nmode=lease\ntoken=%x+\nduration=2.5\n" .. start
      .. "$", text)
    local h = baton.holder(path)
    assert.equal("soft", h.kind)
    assert.equal(2.5, h.lease)
    assert.is_true(h.expires > os.time() and h.expires < os.time() + 4)
    l:release()
    assert.is_nil(H.read(path))
  end)

  it("excludes filelock's SoftFileLease while its heartbeat runs, far longer than the lease", function()
    local path = H.tmpdir() .. "/job.lock"
    local l = baton.soft_lock(path, { lease = 0.5 })
    -- Python waits six times the lease; the heartbeat keeps the marker young all along
    assert.equal("timeout", F.attempt(path, lease(0.5), 3))
    assert.is_true(l:is_locked())
    l:release()
    assert.equal("got", F.attempt(path, lease(0.5), 2))
  end)

  it("is excluded by filelock's live SoftFileLease and takes it once its holder is killed", function()
    local path = H.tmpdir() .. "/job.lock"
    local pid = F.holder(path, lease(0.5), 30)
    local l, _, code = baton.try_lock(path, { kind = "soft", lease = 0.5, timeout = 2 })
    assert.is_nil(l)
    assert.equal("timeout", code)
    assert.equal(pid, baton.holder(path).pid)
    H.kill(pid, "KILL")
    l = baton.soft_lock(path, { lease = 0.5, timeout = 5 })
    assert.is_true(l:is_locked())
    l:release()
  end)

  it("takes another host's lease only once it is the lease old", function()
    local path = H.tmpdir() .. "/job.lock"
    H.write(path, "filelock/2\npid=4242\nhost=elsewhere.example\nmode=lease\n"
      .. "token=0123456789abcdef0123456789abcdef\nduration=1.5\n")
    local t0 = baton.now()
    local l = baton.soft_lock(path, { lease = 1.5, timeout = 5 })
    local waited = baton.now() - t0
    assert.is_true(waited > 1.2 and waited < 3, "waited " .. waited)
    assert.matches("pid=%d+", H.read(path))
    l:release()
  end)

  it("meets a lease of another length with filelock's mismatch error, both ways", function()
    local path = H.tmpdir() .. "/job.lock"
    F.holder(path, lease(1), 30)
    local l, msg, code = baton.try_lock(path, { kind = "soft", lease = 2 })
    assert.is_nil(l)
    assert.equal("EINVAL", code)
    assert.matches("holds a lease of 1 s but this lock's lease is 2 s", msg, 1, true)
    H.cleanup()
    path = H.tmpdir() .. "/job.lock"
    local s = baton.soft_lock(path, { lease = 1 })
    assert.matches("^LeaseSettingsMismatch", F.attempt(path, lease(2), 0.5))
    s:release()
  end)

  it("stopped with SIGSTOP, loses the lease to Python, and on SIGCONT is told once", function()
    local path = H.tmpdir() .. "/job.lock"
    local pid, out = baton_holder(path, 0.5)
    H.kill(pid, "STOP")
    assert.equal("got", F.attempt(path, lease(0.5), 5))
    -- Python's marker stands in the way while the stopped holder wakes
    local py = F.holder(path, lease(0.5), 30)
    H.kill(pid, "CONT")
    H.wait_file(out, 10)
    assert.equal("nil\nlost\n1\n", H.read(out):match("^[^\n]*\n[^\n]*\n[^\n]*\n"))
    assert.matches("^owner%-changed\n", H.read(out .. ".lost"))
    assert.equal(py, baton.holder(path).pid) -- the stopped holder removed nothing
  end)

  it("reports a marker removed from under it, and is_locked() turns false", function()
    local path = H.tmpdir() .. "/job.lock"
    local told = {}
    local l = baton.soft_lock(path, { lease = 0.3, on_lost = function(info) told[#told + 1] = info end })
    os.remove(path)
    H.wait_for(function() return not l:is_locked() end, 3, "the loss")
    assert.equal(1, #told)
    assert.equal("marker-missing", told[1].reason)
    assert.equal(path, told[1].path)
    local ok, msg, code = l:release()
    assert.is_nil(ok)
    assert.equal("lost", code)
    assert.matches("was lost", msg, 1, true)
    assert.equal(1, #told)
    -- the object takes the lock again
    l = baton.new(path, { kind = "soft", lease = 0.3 })
    l:acquire()
    assert.is_true(l:is_locked())
    l:release()
  end)

  it("stops its heartbeat thread on release and when collected", function()
    local path = H.tmpdir() .. "/job.lock"
    local function threads()
      local n = 0
      for line in io.lines("/proc/self/status") do
        n = tonumber(line:match("^Threads:%s*(%d+)")) or n
      end
      return n
    end
    local before = threads()
    local l = baton.soft_lock(path, { lease = 0.3 })
    assert.equal(before + 1, threads())
    l:release()
    assert.equal(before, threads())
    -- a held lease nothing refers to once the function returns: collecting it ends the thread
    local function take_and_drop()
      baton.soft_lock(path, { lease = 0.3 })
      assert.equal(before + 1, threads())
    end
    take_and_drop()
    collectgarbage()
    collectgarbage()
    assert.equal(before, threads())
    assert.is_nil(H.read(path))
  end)

  it("checks its options", function()
    local path = H.tmpdir() .. "/job.lock"
    H.raises("option 'lease' must be a positive number", baton.soft_lock, path, { lease = 0 })
    H.raises("option 'heartbeat' (2 s) must be shorter than the lease (1 s)", baton.soft_lock, path,
      { lease = 1, heartbeat = 2 })
    H.raises("option 'heartbeat' does not apply to soft locks without the option 'lease'",
      baton.soft_lock, path, { heartbeat = 1 })
    H.raises("option 'stale_after' does not apply to a lease", baton.soft_lock, path,
      { lease = 1, stale_after = 3 })
  end)
end)
