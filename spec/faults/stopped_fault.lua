-- Stopped holders: a holder stopped with SIGSTOP is alive, and no kind of lock may treat it
-- as dead, however long it stays stopped (longer than the 2 s after which a soft marker that
-- names nobody may be broken). Continued with SIGCONT, it releases normally.
--
-- BATON_FAULT_STOP_ROUNDS (default 16): stops in the soft-lock stop storm.
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local ROUNDS = F.count("STOP_ROUNDS", 16)
local WORKER = F.HERE .. "/worker.lua"

local function state(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)")
end

-- One attempt by another process that waits up to `timeout` seconds: "got" or the code.
local WAITER = [[
local baton = require "baton"
local kind, path, timeout, n = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local g, msg, code
if kind == "soft" then g, msg, code = baton.try_lock(path, { kind = "soft", timeout = timeout })
elseif kind == "rw-read" then g, msg, code = baton.rwlock(path):try_read({ timeout = timeout })
elseif kind == "rw-write" then g, msg, code = baton.rwlock(path):try_write({ timeout = timeout })
elseif kind == "sem" then g, msg, code = baton.semaphore(path, n):try_acquire({ timeout = timeout })
else g, msg, code = baton.try_lock(path, { timeout = timeout, shared = kind == "flock-shared" }) end
if g then g:release() end
print(g and "got" or code)
]]

local function wait_for_lock(kind, path, timeout, n)
  local spec = { H.LUA, H.script(WAITER), kind, path, tostring(timeout), timeout = timeout + 30 }
  if n then spec[6] = tostring(n) end
  local ok, status, out = baton.run(spec)
  assert(ok ~= nil and status == 0, tostring(out))
  return (out:gsub("%s+$", ""))
end

local CASES = {
  { kind = "flock", wait = "flock" },
  { kind = "flock-shared", wait = "flock" },
  { kind = "soft", wait = "soft" },
  { kind = "rw-read", wait = "rw-write" },
  { kind = "rw-write", wait = "rw-read" },
  { kind = "sem", wait = "sem", n = 1 },
}

describe("stopped holders", function()
  after_each(H.cleanup)

  for _, c in ipairs(CASES) do
    -- (only a soft lock has a time rule; 2.5 s is past it)
    local stop = c.kind == "soft" and 2.5 or 0.5
    it(c.kind .. ": a stopped holder keeps its lock, and releases it once continued", function()
      local dir = H.tmpdir()
      local path = dir .. "/the.lock"
      local holder = F.hold(c.kind, path, stop + 1, c.n)
      local before = baton.holder(path)
      holder:kill("STOP")
      H.wait_for(function() return state(holder.pid) == "T" end, 5, "the holder to stop")
      assert.equal("timeout", wait_for_lock(c.wait, path, stop, c.n))
      if c.kind == "soft" then
        local h = baton.holder(path)
        assert.equal(holder.pid, h.pid)
        assert.is_true(h.alive)
        assert.is_false(h.stale)
        assert.equal(before.token, h.token) -- the very marker it made
      end
      assert.equal("T", state(holder.pid))
      holder:kill("CONT")
      assert.equal("got", wait_for_lock(c.wait, path, 10, c.n))
      assert.equal(0, (holder:wait(10)))
      if c.kind == "soft" then assert.is_nil(H.read(path)) end
    end)
  end

  it("soft: filelock 3.9's empty marker, held open by a stopped holder, is not broken", function()
    local dir = H.tmpdir()
    local path = dir .. "/the.lock"
    local ready = dir .. "/ready"
    local py = assert(baton.spawn{ H.PYTHON, "-c", string.format([[
import filelock, time
l = filelock.SoftFileLock(%q)
l.acquire()
open(%q, "w").write("held")
time.sleep(4)
l.release()
]], path, ready) })
    H.wait_file(ready)
    py:kill("STOP")
    H.wait_for(function() return state(py.pid) == "T" end, 5, "the holder to stop")
    assert.equal("", H.read(path))
    assert.equal("timeout", wait_for_lock("soft", path, 3))
    local h = baton.holder(path, { kind = "soft" })
    assert.is_true(h.malformed)
    assert.equal(py.pid, h.pid)
    assert.is_true(h.alive)
    py:kill("CONT")
    assert.equal("got", wait_for_lock("soft", path, 10))
    assert.equal(0, (py:wait(10)))
  end)

  it("soft: a stop storm never lets a waiter take a stopped holder's marker", function()
    F.seed("stop storm soft")
    local dir = H.tmpdir()
    local path = dir .. "/the.lock"
    local workers = {}
    for i = 1, 4 do
      workers[i] = { id = "w" .. i, p = F.lua(WORKER, { "soft", path, dir, "w" .. i, math.random(1, 2 ^ 30) },
        { stdout = "null", stderr = dir .. "/err.w" .. i }) }
    end
    local by_pid = {}
    for _, w in ipairs(workers) do by_pid[w.p.pid] = w end
    local holding, inside, longest, t0 = 0, 0, 0, baton.now()
    for round = 1, ROUNDS do
      baton.sleep(0.02 + math.random() * 0.1)
      -- mostly the holder of the moment (whoever the marker names), sometimes a waiter
      local h = baton.holder(path)
      local w = (math.random() < 0.8 and h and by_pid[h.pid]) or workers[math.random(#workers)]
      assert.is_nil(w.p:wait(0), w.id .. " ended: " .. tostring(H.read(dir .. "/err." .. w.id)))
      w.p:kill("STOP")
      H.wait_for(function() return state(w.p.pid) == "T" end, 5, "the worker to stop")
      h = baton.holder(path)
      if h and h.pid == w.p.pid then holding = holding + 1 end
      if (H.read(dir .. "/state." .. w.id) or ""):sub(1, 1) == "C" then inside = inside + 1 end
      -- every fourth stop outlasts the 2 s after which a marker naming nobody may be broken
      local pause = round % 4 == 1 and 2.2 + math.random() * 0.4 or 0.1 + math.random() * 1.5
      longest = math.max(longest, pause)
      baton.sleep(pause)
      w.p:kill("CONT")
    end
    H.write(dir .. "/stop", "")
    for _, w in ipairs(workers) do
      assert.equal(0, (w.p:wait(60)), w.id .. ": " .. tostring(H.read(dir .. "/err." .. w.id)))
    end
    assert.is_nil(H.read(dir .. "/violations"))
    local total = F.account(dir, { "counter" }, {})
    assert.equal("free", F.probe("soft", path))
    F.report("stop storm soft: 4 workers, %d SIGSTOPs of 0.1-1.6 s and, every fourth, 2.2-2.6 s (longest %.1f s; %d of the "
      .. "holder, %d of them inside the section), %d sections counted exactly, no stopped "
      .. "holder's marker taken, %.1f s", ROUNDS, longest, holding, inside, total, baton.now() - t0)
  end)
end)
