-- Racing peers: baton workers (spec/faults/worker.lua) share a lock and a counter with
-- Python peers that do what other programs do to lock files (spec/faults/peer.py):
--
-- * flock locks and semaphore slots whose file a peer unlinks on every release, and every
--   other time recreates, as Python filelock 3.20.4-3.29 did. Exclusion must hold: baton
--   checks after locking that the path still names the file it locked.
-- * soft locks under a stream of markers naming dead processes (what crashed holders leave)
--   that baton waiters race to break, with tight polling breakers, waiters of every kind,
--   and Python filelock 3.9's SoftFileLock (an empty marker) taking part in the sections.
--
-- Every holder checks that nobody else is inside, and every record of the counter is
-- accounted for. BATON_FAULT_RACE_SECTIONS (default 10000) records per case.
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local SECTIONS = F.count("RACE_SECTIONS", 10000)
local WORKER = F.HERE .. "/worker.lua"
local PEER = F.HERE .. "/peer.py"

-- Start the processes, let them run until the counters hold `want` records in all, stop
-- them, and check that each ended cleanly. Returns the time taken.
local function race(dir, procs, counters, want, limit)
  local t0 = baton.now()
  local function count()
    local n = 0
    for _, name in ipairs(counters) do
      local s = H.read(dir .. "/" .. name)
      n = n + (s and #s or 0) / 32
    end
    return n
  end
  local running = {}
  for _, p in ipairs(procs) do
    local spec = { stdout = "null", stderr = dir .. "/err." .. p.id }
    for i, a in ipairs(p.argv) do spec[i] = a end
    running[#running + 1] = { id = p.id, p = assert(baton.spawn(spec)) }
  end
  while count() < want and baton.now() - t0 < limit do
    for _, r in ipairs(running) do
      assert(r.p:running(), r.id .. " ended early: " .. tostring(H.read(dir .. "/err." .. r.id)))
    end
    baton.sleep(0.05)
  end
  H.write(dir .. "/stop", "")
  for _, r in ipairs(running) do
    local code = r.p:wait(60)
    assert(code == 0, r.id .. " ended with " .. tostring(code) .. ": " .. tostring(H.read(dir .. "/err." .. r.id)))
  end
  assert(H.read(dir .. "/violations") == nil, H.read(dir .. "/violations"))
  return baton.now() - t0
end

local function worker(kind, path, dir, id, wait)
  return { id = id, argv = { H.LUA, WORKER, kind, path, dir, id, tostring(math.random(1, 2 ^ 30)), wait } }
end

local function peer(mode, path, dir, id, slots)
  return { id = id, argv = { H.PYTHON, PEER, mode, path, dir, id, dir .. "/stop", slots } }
end

-- Records by the processes whose id starts with `prefix`.
local function records_by(dir, counters, prefix)
  local n = 0
  for _, name in ipairs(counters) do
    for _, r in ipairs(F.records(dir .. "/" .. name)) do
      if r[2]:sub(1, #prefix) == prefix then n = n + 1 end
    end
  end
  return n
end

describe("racing peers", function()
  after_each(H.cleanup)

  it("flock: peers that unlink and recreate the lock file on release do not break exclusion", function()
    F.seed("racing unlinkers, flock")
    local dir = H.tmpdir()
    local path = dir .. "/the.lock"
    local procs = {}
    for i = 1, 3 do procs[#procs + 1] = worker("flock-mixed", path, dir, "w" .. i) end
    for i = 1, 2 do procs[#procs + 1] = peer("unlinker", path, dir, "p" .. i) end
    local counters = { "counter" }
    local took = race(dir, procs, counters, SECTIONS, 120)
    local total, reads = F.account(dir, counters, {})
    assert.is_true(records_by(dir, counters, "p") > 0, "the unlinking peers never got in")
    assert.equal("free", F.probe("flock", path))
    F.report("racing unlinkers, flock: 3 baton workers (exclusive and shared, every way of waiting) and "
      .. "2 peers unlinking the file on each release: %d sections (%d by the peers, %d read sections), "
      .. "exclusion held, %.1f s", total, records_by(dir, counters, "p"), reads, took)
  end)

  it("semaphore: peers that unlink slot files on release do not break the slots' exclusion", function()
    F.seed("racing unlinkers, semaphore")
    local dir = H.tmpdir()
    local path = dir .. "/sem"
    local procs = {}
    for i = 1, 3 do procs[#procs + 1] = worker("sem", path, dir, "w" .. i) end
    for i = 1, 2 do procs[#procs + 1] = peer("unlinker", path, dir, "p" .. i, "2") end
    local counters = { "counter.1", "counter.2" }
    local took = race(dir, procs, counters, SECTIONS, 120)
    local total = F.account(dir, counters, {})
    assert.is_true(records_by(dir, counters, "p") > 0, "the unlinking peers never got in")
    assert.equal("free", F.probe("sem", path, 2))
    F.report("racing unlinkers, semaphore of 2: 3 baton workers and 2 peers unlinking slot files: "
      .. "%d sections (%d by the peers), exclusion held in each slot, %.1f s", total,
      records_by(dir, counters, "p"), took)
  end)

  it("soft: breakers racing over dead holders' markers never take a live holder's", function()
    F.seed("racing breakers, soft")
    local dir = H.tmpdir()
    local path = dir .. "/the.lock"
    local procs = {}
    for i = 1, 2 do procs[#procs + 1] = worker("soft", path, dir, "w" .. i, "crash") end
    for i = 1, 3 do procs[#procs + 1] = worker("soft", path, dir, "b" .. i, "poll,crash") end
    procs[#procs + 1] = peer("softlock", path, dir, "p1")
    for i = 1, 2 do procs[#procs + 1] = peer("planter", path, dir, "x" .. i) end
    local counters = { "counter" }
    local want = math.max(1, math.floor(SECTIONS / 3))
    local took = race(dir, procs, counters, want, 120)
    local total, _, _, crashes = F.account(dir, counters, {})
    local planted = tonumber(H.read(dir .. "/planted.x1") or "0") + tonumber(H.read(dir .. "/planted.x2") or "0")
    assert.is_true(planted > 0, "no dead holder's marker was planted")
    assert.is_true(records_by(dir, counters, "p") > 0, "filelock's SoftFileLock never got in")
    -- the planter may have left one last marker: it names a dead process, broken at once
    local l = baton.try_lock(path, { kind = "soft", timeout = 3 })
    assert.is_not_nil(l)
    l:release()
    assert.equal(0, F.break_leftovers(dir), "files of interrupted breaks are left behind")
    F.report("racing breakers, soft: 2 baton workers, 3 polling breakers, filelock 3.9's SoftFileLock, "
      .. "%d markers of dead holders (%d left by holders, %d planted while free) broken in the race: "
      .. "%d sections (%d by filelock), exclusion held, %.1f s", crashes + planted, crashes, planted,
      total, records_by(dir, counters, "p"), took)
  end)
end)
