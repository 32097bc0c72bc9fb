-- Soft read/write locks against Python filelock 3.32's SoftReadWriteLock on the same files
-- (PATH.state, PATH.write, PATH.readers/): readers share across languages, writers exclude,
-- a waiting writer keeps new readers out, stale markers are evicted, live ones never.
local baton = require "baton"
local H = require "helpers"
local F = require "helpers.filelock32"

-- Python's SoftReadWriteLock with heartbeat `hb`, in one mode (F.holder and F.attempt).
local function make(hb, mode)
  return "_RW(filelock.SoftReadWriteLock(%q, heartbeat_interval=" .. hb
    .. ", is_singleton=False), '" .. mode .. "')"
end

describe("a soft read/write lock", function()
  after_each(H.cleanup)
  if not F.AVAILABLE then
    pending("needs Python filelock 3.32 in " .. F.SRC)
    return
  end

  it("shares reading with filelock's SoftReadWriteLock and keeps its writer out", function()
    local path = H.tmpdir() .. "/data.lock"
    local rw = baton.rwlock(path, { soft = true, heartbeat = 1 })
    local r = rw:read()
    assert.equal("got", F.attempt(path, make(1, "read"), 0.5))
    assert.equal("timeout", F.attempt(path, make(1, "write"), 0.5))
    r:release()
    assert.equal("got", F.attempt(path, make(1, "write"), 1))
  end)

  it("excludes filelock's readers and writers while writing", function()
    local path = H.tmpdir() .. "/data.lock"
    local rw = baton.rwlock(path, { soft = true, heartbeat = 1 })
    local w = rw:write()
    assert.equal("timeout", F.attempt(path, make(1, "read"), 0.3))
    assert.equal("timeout", F.attempt(path, make(1, "write"), 0.3))
    w:release()
    assert.equal("got", F.attempt(path, make(1, "read"), 1))
  end)

  it("is kept by filelock's reader from a writer, whose wait keeps new readers out", function()
    local path = H.tmpdir() .. "/data.lock"
    F.holder(path, make(1, "read"), 1.5)
    local rw = baton.rwlock(path, { soft = true, heartbeat = 1 })
    local r = rw:try_read()
    assert.is_truthy(r) -- readers share
    r:release()
    assert.is_nil(rw:try_write({ timeout = 0.3 }))
    -- a writer that waits: another reader (Python) is kept out meanwhile
    local got
    local t0 = baton.now()
    local w = rw:write({ timeout = 10, sleep = function(s)
      if got == nil and baton.now() - t0 > 0.2 then got = F.attempt(path, make(1, "read"), 0) end
      baton.sleep(s)
    end })
    assert.equal("timeout", got)
    assert.is_true(baton.now() - t0 > 0.8)
    w:release()
  end)

  it("evicts the markers of a holder killed with SIGKILL, never those of a live one", function()
    local path = H.tmpdir() .. "/data.lock"
    local pid = F.holder(path, make(0.3, "write"), 30)
    local rw = baton.rwlock(path, { soft = true, heartbeat = 0.3 })
    -- alive and heartbeating: held far longer than its stale threshold (0.9 s)
    assert.is_nil(rw:try_read({ timeout = 2 }))
    H.kill(pid, "KILL")
    local t0 = baton.now()
    local r = rw:read({ timeout = 5 })
    assert.is_true(baton.now() - t0 < 2)
    -- and the other way: a live baton reader is not evicted by Python's writer
    assert.equal("timeout", F.attempt(path, make(0.3, "write"), 2))
    r:release()
  end)

  it("is what `baton lock --rw --soft` takes: -s beside filelock's readers, -x apart", function()
    local path = H.tmpdir() .. "/data.lock"
    local bin = H.quote(os.getenv("BATON_BIN"))
    local marker = H.tmpdir() .. "/ran"
    H.spawn(bin .. " lock --rw --soft -s " .. H.quote(path) .. " sh -c "
      .. H.quote("touch " .. marker .. "; sleep 30"))
    H.wait_file(marker, 10)
    assert.equal("got", F.attempt(path, make(1, "read"), 0.5))
    assert.equal("timeout", F.attempt(path, make(1, "write"), 0.5))
    assert.equal(0, (H.run(bin .. " lock -n --rw --soft -s " .. H.quote(path) .. " true")))
    assert.equal(1, (H.run(bin .. " lock -n --rw --soft -x " .. H.quote(path) .. " true")))
  end)

  it("names its holders, writer first, and works as a kind of one mode", function()
    local path = H.tmpdir() .. "/data.lock"
    local pid = F.holder(path, make(1, "read"), 30)
    local mine = baton.new(path, { kind = "soft_rw", shared = true, heartbeat = 1 }):acquire()
    local h = baton.holder(path)
    assert.equal("soft_rw", h.kind)
    assert.equal("read", h.mode)
    assert.equal(2, #h.holders)
    local pids = { [h.holders[1].pid] = true, [h.holders[2].pid] = true }
    assert.is_true(pids[pid])
    mine:release()
    local _, _, code = baton.try_lock(path, { kind = "soft_rw", heartbeat = 1 })
    assert.equal("busy", code)
    H.kill(pid, "KILL")
  end)

  it("checks its options", function()
    local path = H.tmpdir() .. "/data.lock"
    H.raises("option 'heartbeat' needs soft = true", baton.rwlock, path, { heartbeat = 1 })
    H.raises("option 'mode' does not apply to soft read/write locks", baton.rwlock, path,
      { soft = true, mode = "0644" })
    H.raises("option 'soft' must be a boolean", baton.rwlock, path, { soft = "yes" })
  end)
end)
