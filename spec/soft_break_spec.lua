-- An operator's break (baton.break_lock, `baton break FILE`), and `baton lock --soft --lease
-- / --strict`, against real holders: markers of other hosts, filelock 3.32's strict claims,
-- flock(1).
local baton = require "baton"
local H = require "helpers"
local F = require "helpers.filelock32"

local BIN = os.getenv("BATON_BIN") or "build/5.4/bin/baton"

describe("breaking a soft lock", function()
  after_each(H.cleanup)

  it("`baton break` frees the marker of a killed holder on another host, saying whose it was", function()
    local path = H.tmpdir() .. "/job.lock"
    -- a holder on another host leaves a marker nobody here can prove dead
    H.write(path, "4242\nbuild-7.example\n")
    local l, _, code = baton.try_lock(path, { kind = "soft", timeout = 0.2 })
    assert.is_nil(l)
    assert.equal("timeout", code)
    local status, out = H.run(BIN .. " break " .. H.quote(path))
    assert.equal(0, status, out)
    assert.matches("broke the soft lock '" .. path .. "', held by pid 4242 on build-7.example", out, 1, true)
    assert.is_nil(H.read(path))
    l = baton.try_lock(path, { kind = "soft" })
    assert.is_truthy(l)
    l:release()
  end)

  it("breaks another host's lease, which a contender of another length could not take", function()
    local path = H.tmpdir() .. "/job.lock"
    H.write(path, "filelock/2\npid=4242\nhost=build-7.example\nmode=lease\n"
      .. "token=0123456789abcdef0123456789abcdef\nduration=600\n")
    local info = assert(baton.break_lock(path))
    assert.equal(4242, info.pid)
    assert.equal(600, info.lease)
    assert.is_nil(H.read(path))
  end)

  it("removes the claim of a killed filelock StrictSoftFileLock holder", function()
    if not F.AVAILABLE then return pending("needs Python filelock 3.32 in " .. F.SRC) end
    local path = H.tmpdir() .. "/job.lock"
    local pid = F.holder(path, "filelock.StrictSoftFileLock(%q)", 30)
    H.kill(pid, "KILL")
    H.wait_for(function() return not H.alive(pid) end, 5, "the holder's end")
    assert.equal("timeout", F.attempt(path, "filelock.StrictSoftFileLock(%q)", 0.2))
    local info = assert(baton.break_lock(path))
    assert.equal(pid, info.pid)
    assert.is_true(info.strict)
    assert.equal("got", F.attempt(path, "filelock.StrictSoftFileLock(%q)", 2))
    local n, msg, code = baton.break_lock(path)
    assert.is_nil(n)
    assert.equal("ENOENT", code, msg)
  end)

  -- Linux only: flock(1) is found as the holder in the kernel's lock table.
  it("refuses a flock lock, changing nothing #linux", function()
    local dir = H.tmpdir()
    local path = dir .. "/f.lock"
    local pid = H.flock_holder(path, 30)
    local status, out = H.run(BIN .. " break " .. H.quote(path))
    assert.equal(1, status)
    assert.matches("is a flock lock held by pid " .. pid .. ": there is nothing to break", out, 1, true)
  end)

  it("refuses a file that is no marker, changing nothing", function()
    local dir = H.tmpdir()
    local data = dir .. "/data"
    H.write(data, '{"json": true}\n')
    local info, msg, code = baton.break_lock(data)
    assert.is_nil(info)
    assert.equal("EEXIST", code)
    assert.matches("holds no marker that names a holder", msg, 1, true)
    assert.equal('{"json": true}\n', H.read(data))
  end)
end)

describe("baton lock --soft", function()
  after_each(H.cleanup)

  it("--lease stops the command when the lease is lost, with status 75", function()
    local dir = H.tmpdir()
    local path = dir .. "/job.lock"
    local ready = dir .. "/ready"
    local pid = H.spawn(string.format("sh -c %s", H.quote(BIN .. " lock --soft --lease 0.5 "
      .. H.quote(path) .. " sh -c " .. H.quote("echo x > " .. H.quote(ready) .. "; sleep 20")
      .. "; echo $? > " .. H.quote(dir .. "/status"))))
    H.wait_file(ready)
    assert.matches("mode=lease\n", H.read(path))
    os.remove(path) -- the marker goes: the lease is lost
    H.wait_file(dir .. "/status", 10)
    assert.equal("75\n", H.read(dir .. "/status"))
    H.wait_for(function() return not H.alive(pid) end, 10, "the shell to end after writing the status")
  end)

  it("--strict is the same lock as filelock's StrictSoftFileLock", function()
    if not F.AVAILABLE then return pending("needs Python filelock 3.32 in " .. F.SRC) end
    local path = H.tmpdir() .. "/job.lock"
    local py = F.holder(path, "filelock.StrictSoftFileLock(%q)", 30)
    local status = H.run(BIN .. " lock -n --soft --strict " .. H.quote(path) .. " true")
    assert.equal(1, status)
    H.kill(py, "TERM")
    H.wait_for(function() return not H.alive(py) end, 5, "the holder's end")
    baton.break_lock(path)
    status = H.run(BIN .. " lock -n --soft --strict " .. H.quote(path) .. " true")
    assert.equal(0, status)
  end)
end)
