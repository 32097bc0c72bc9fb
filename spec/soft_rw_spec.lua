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
    -- alive and heartbeating every 0.3 s: held longer than the stale threshold of the one
    -- that looks (3 s, a heartbeat of 1 s), which a refresh late by a second or two on a busy
    -- machine does not reach
    local patient = baton.rwlock(path, { soft = true, heartbeat = 1 })
    assert.is_nil(patient:try_read({ timeout = 4 }))
    patient:close()
    local rw = baton.rwlock(path, { soft = true, heartbeat = 0.3 })
    H.kill(pid, "KILL")
    local t0 = baton.now()
    local r = rw:read({ timeout = 5 })
    assert.is_true(baton.now() - t0 < 2)
    -- and the other way: a live baton reader (heartbeat 0.3 s) is not evicted by Python's
    -- writer, whose threshold is 3 s
    assert.equal("timeout", F.attempt(path, make(1, "write"), 4))
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

-- A baton writer holding PATH with heartbeat 0.2 s until it no longer holds it (through a
-- lock object of kind soft_rw, or a guard of baton.rwlock when arg[4] is "rw"); it writes
-- into `out` whether lostfd() had become readable, then what release() said.
local LOSING_WRITER = [[
local baton = require "baton"
local core = require "baton.core"
local path, ready, out, how = arg[1], arg[2], arg[3], arg[4]
local held, fd, release
if how == "rw" then
  local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
  local g = rw:write()
  fd = rw._h:lostfd()
  held, release = function() return g:is_held() end, function() return g:release() end
else
  local l = baton.new(path, { kind = "soft_rw", heartbeat = 0.2 }):acquire()
  fd = l:lostfd()
  held, release = function() return l:is_locked() end, function() return l:release() end
end
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
while held() do baton.sleep(0.02) end
local readable = fd ~= nil and core.poll({ fd }, {}, 0) ~= nil
local ok, msg, code = release()
f = assert(io.open(out .. ".tmp", "w")) -- whole when it appears
f:write(tostring(readable), "\n", tostring(ok), "\n", tostring(code), "\n", tostring(msg))
f:close()
assert(os.rename(out .. ".tmp", out))
]]

describe("a soft read/write lock that is lost", function()
  after_each(H.cleanup)

  for _, how in ipairs({ "kind", "rw" }) do
    it("tells a writer stopped past its stale threshold (" .. how .. "), which removes nothing", function()
      local dir = H.tmpdir()
      local path, out = dir .. "/data.lock", dir .. "/out"
      local pid = H.spawn(H.lua_cmd(H.script(LOSING_WRITER), path, dir .. "/ready", out, how))
      H.wait_file(dir .. "/ready")
      H.kill(pid, "STOP")
      baton.sleep(1.2)
      local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
      local w = rw:write({ timeout = 5 }) -- the stopped writer's marker is stale: evicted
      H.kill(pid, "CONT")
      H.wait_file(out, 10)
      local said = H.read(out)
      assert.equal("true\nnil\nlost\n", said:match("^[^\n]*\n[^\n]*\n[^\n]*\n"), said)
      assert.matches("soft read/write lock '" .. path .. "' was lost", said, 1, true)
      assert.is_true(w:is_held())
      local h = baton.holder(path)
      assert.equal("write", h.mode)
      assert.are_not.equal(pid, h.holders[1].pid) -- ours stays
      assert.is_truthy(H.read(path .. ".write"))
      w:release()
    end)
  end

  it("stops the command of `baton lock --rw --soft` with status 75", function()
    local dir = H.tmpdir()
    local path = dir .. "/data.lock"
    local ready = dir .. "/ready"
    local bin = os.getenv("BATON_BIN") or "build/5.4/bin/baton"
    local pid = H.spawn(string.format("sh -c %s", H.quote(bin .. " lock --rw --soft --heartbeat 0.2 -x "
      .. H.quote(path) .. " sh -c " .. H.quote("echo x > " .. H.quote(ready) .. "; sleep 20")
      .. "; echo $? > " .. H.quote(dir .. "/status"))))
    H.wait_file(ready)
    os.remove(path .. ".write") -- the marker goes: the lock is lost
    H.wait_file(dir .. "/status", 10)
    assert.equal("75\n", H.read(dir .. "/status"))
    assert.is_false(H.alive(pid))
  end)
end)

-- A baton writer (heartbeat 1 s) that releases once `go` exists, then writes `done`.
local RELEASING_WRITER = [[
local baton = require "baton"
local path, ready, go, done = arg[1], arg[2], arg[3], arg[4]
local l = baton.new(path, { kind = "soft_rw", heartbeat = 1 }):acquire()
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
while not io.open(go) do baton.sleep(0.01) end
l:release()
f = assert(io.open(done, "w")); f:write("done"); f:close()
]]

describe("a soft read/write writer's release", function()
  after_each(H.cleanup)

  it("removes its marker under PATH.state, never while a peer is in a transition", function()
    local dir = H.tmpdir()
    local path = dir .. "/data.lock"
    H.spawn(H.lua_cmd(H.script(RELEASING_WRITER), path, dir .. "/ready", dir .. "/go", dir .. "/done"))
    H.wait_file(dir .. "/ready")
    -- a peer in a transition (evicting or claiming PATH.write) holds PATH.state
    local state = baton.soft_lock(path .. ".state")
    H.write(dir .. "/go", "")
    baton.sleep(0.5)
    assert.is_truthy(H.read(path .. ".write"))
    assert.is_nil(H.read(dir .. "/done"))
    state:release()
    H.wait_file(dir .. "/done", 5)
    assert.is_nil(H.read(path .. ".write"))
  end)
end)

describe("a soft read/write lock beside other data", function()
  after_each(H.cleanup)

  it("leaves a PATH.write that is no marker alone, however old, and says so", function()
    local dir = H.tmpdir()
    local path = dir .. "/data.lock"
    local data = '{"build": 42}\n'
    H.write(path .. ".write", data)
    H.run_ok("touch -d '2020-01-01 00:00:00' " .. H.quote(path .. ".write"))
    for _, how in ipairs({ "read", "write" }) do
      local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
      local g, msg, code = rw["try_" .. how](rw, { timeout = 1 })
      assert.is_nil(g)
      assert.equal("EEXIST", code)
      assert.matches("'" .. path .. ".write' beside it holds other data, not a marker, and is left alone",
        msg, 1, true)
      assert.equal(data, H.read(path .. ".write"))
      rw:close()
    end
    -- an entry of the readers' folder that is no marker goes once stale, as in filelock
    os.remove(path .. ".write")
    H.write(path .. ".readers/junk", "junk")
    H.run_ok("touch -d '2020-01-01 00:00:00' " .. H.quote(path .. ".readers/junk"))
    local rw = baton.rwlock(path, { soft = true, heartbeat = 0.2 })
    local w = rw:write({ timeout = 2 })
    assert.is_nil(H.read(path .. ".readers/junk"))
    w:release()
  end)
end)
