-- Strict soft locks against Python filelock 3.32's StrictSoftFileLock on the same files:
-- the sentinel at the path and the claims in PATH.filelock/claims/.
local baton = require "baton"
local H = require "helpers"
local F = require "helpers.filelock32"

local STRICT = "filelock.StrictSoftFileLock(%q)"
local MY_PID = tonumber(H.read("/proc/self/stat"):match("^%d+"))

describe("a strict soft lock", function()
  after_each(H.cleanup)
  if not F.AVAILABLE then
    pending("needs Python filelock 3.32 in " .. F.SRC)
    return
  end

  it("is excluded by filelock's StrictSoftFileLock, names its real claimant, and is taken once Python lets go", function()
    local path = H.tmpdir() .. "/job.lock"
    local pid = F.holder(path, STRICT, 1.5)
    local l, msg, code = baton.try_lock(path, { kind = "soft", strict = true })
    assert.is_nil(l)
    assert.equal("busy", code, msg)
    local h = baton.holder(path)
    assert.equal("soft", h.kind)
    assert.is_true(h.strict)
    assert.equal(pid, h.pid) -- not the sentinel's "1"
    assert.equal(require("baton.core").hostname(), h.host)
    assert.is_true(h.alive)
    assert.is_true(math.abs(h.since - os.time()) < 5)
    local s = baton.soft_lock(path, { strict = true, timeout = 10 })
    assert.is_true(s:is_locked())
    s:release()
  end)

  it("excludes filelock's StrictSoftFileLock while held, which takes it once released", function()
    local path = H.tmpdir() .. "/job.lock"
    local s = baton.soft_lock(path, { strict = true })
    assert.equal("timeout", F.attempt(path, STRICT, 0.3))
    local h = baton.holder(path)
    assert.is_true(h.strict)
    assert.equal(MY_PID, h.pid)
    s:release()
    assert.equal("got", F.attempt(path, STRICT, 2))
    assert.is_nil(baton.holder(path))
  end)

  it("excludes another strict lock object in this process and a baton process", function()
    local path = H.tmpdir() .. "/job.lock"
    local a = baton.soft_lock(path, { strict = true })
    local b, _, code = baton.try_lock(path, { kind = "soft", strict = true, timeout = 0.2 })
    assert.is_nil(b)
    assert.equal("timeout", code)
    a:release()
    b = baton.try_lock(path, { kind = "soft", strict = true })
    assert.is_truthy(b)
    b:release()
  end)

  it("is never taken by age nor from a holder killed with SIGKILL", function()
    local path = H.tmpdir() .. "/job.lock"
    local pid, holder = F.holder(path, STRICT, 30, true)
    holder:kill("KILL")
    assert(holder:wait(5), "the holder's end")
    os.execute("touch -d '2 hours ago' " .. H.quote(path) .. " " .. H.quote(path) .. ".filelock/claims/*")
    local l, _, code = baton.try_lock(path, { kind = "soft", strict = true, timeout = 1 })
    assert.is_nil(l)
    assert.equal("timeout", code)
    local h = baton.holder(path)
    assert.equal(pid, h.pid)
    assert.is_false(h.alive)
    assert.equal("timeout", F.attempt(path, STRICT, 0.2)) -- filelock agrees
  end)

  it("is never broken by a plain soft lock, which says what the file is", function()
    local path = H.tmpdir() .. "/job.lock"
    assert.equal("got", F.attempt(path, STRICT, 1)) -- leaves the sentinel behind
    os.execute("touch -d '2 hours ago' " .. H.quote(path))
    local before = H.read(path)
    assert.equal("1\nfilelock-strict-v1\0\n0\n", before)
    local l, msg, code = baton.try_lock(path, { kind = "soft", timeout = 0.5 })
    assert.is_nil(l)
    assert.equal("EEXIST", code)
    assert.matches("sentinel of a strict soft lock", msg, 1, true)
    assert.equal(before, H.read(path))
    assert.equal("got", F.attempt(path, STRICT, 1))
  end)

  it("waits for a plain soft marker at the path, as filelock's does", function()
    local path = H.tmpdir() .. "/job.lock"
    local s = baton.soft_lock(path)
    local l, _, code = baton.try_lock(path, { kind = "soft", strict = true })
    assert.is_nil(l)
    assert.equal("busy", code)
    s:release()
    l = baton.try_lock(path, { kind = "soft", strict = true })
    assert.is_truthy(l)
    l:release()
  end)

  it("refuses options that would break it by age", function()
    local path = H.tmpdir() .. "/job.lock"
    H.raises("option 'stale_after' does not apply to strict soft locks", baton.soft_lock, path,
      { strict = true, stale_after = 1 })
    H.raises("option 'lease' does not apply to strict soft locks", baton.new, path,
      { kind = "soft", strict = true, lease = 1 })
    H.raises("option 'strict' must be a boolean", baton.soft_lock, path, { strict = 1 })
  end)
end)
