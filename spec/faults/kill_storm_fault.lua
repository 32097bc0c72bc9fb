-- Kill storms: workers take a lock of one kind again and again and append to a shared
-- counter under it (spec/faults/worker.lua), while this process SIGKILLs one of them at a
-- random moment every round and starts a replacement. Afterwards every record of the
-- counter is accounted for (no section lost, none twice, no two holders at once), and no
-- lock is left held: the next acquirer gets it (a soft marker left by a killed holder is
-- taken over at once, or within the 2 s its rule allows when the kill came between the
-- marker's creation and its first write).
--
-- BATON_FAULT_KILL_ROUNDS (default 200) kills per kind, BATON_FAULT_KILL_WORKERS (4)
-- workers at a time; BATON_FAULT_SCALE multiplies the rounds of every fault spec.
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local ROUNDS = F.count("KILL_ROUNDS", 200)
local WORKERS = math.floor(tonumber(os.getenv("BATON_FAULT_KILL_WORKERS") or "") or 4)
local WORKER = F.HERE .. "/worker.lua"
local REC = 32

-- Every record of a counter file: { value, worker, seq }.
local function records(file)
  local s = H.read(file) or ""
  assert(#s % REC == 0, file .. ": a torn record (size " .. #s .. ")")
  local list = {}
  for i = 1, #s, REC do
    local rec = s:sub(i, i + REC - 1)
    local value, worker, seq = rec:match("^(%d+) ([%w%.]+):(%d+) *\n$")
    assert(value, string.format("%s: bad record %q", file, rec))
    list[#list + 1] = { tonumber(value), worker, tonumber(seq) }
  end
  return list
end

-- A worker's log: the sections it completed (writers) and read (readers).
local function logged(dir, id)
  local writes, reads = {}, 0
  for line in (H.read(dir .. "/log." .. id) or ""):gmatch("[^\n]+") do
    if line:sub(1, 1) == "r" then reads = reads + 1 else writes[#writes + 1] = tonumber(line) end
  end
  return writes, reads
end

local KINDS = {
  { kind = "flock", probe = "flock", counters = { "counter" } },
  { kind = "flock-mixed", probe = "flock", counters = { "counter" } },
  { kind = "soft", probe = "soft", counters = { "counter" } },
  { kind = "rw", probe = "rw-write", counters = { "counter" } },
  { kind = "sem", probe = "sem", n = 2, counters = { "counter.1", "counter.2" } },
}

describe("kill storms", function()
  after_each(H.cleanup)

  for _, k in ipairs(KINDS) do
    it(k.kind .. ": SIGKILL at random moments loses no section and leaves no lock held", function()
      F.seed("kill storm " .. k.kind)
      local dir = H.tmpdir()
      local path = dir .. "/the.lock"
      local workers, killed, gen = {}, {}, 0
      local function start(slot)
        gen = gen + 1
        local id = "w" .. slot .. "." .. gen
        workers[slot] = { id = id, p = F.lua(WORKER, { k.kind, path, dir, id, math.random(1, 2 ^ 30) },
          { stdout = "null", stderr = dir .. "/err." .. id }) }
      end
      for slot = 1, WORKERS do start(slot) end

      local phases = {}
      local t0 = baton.now()
      for _ = 1, ROUNDS do
        baton.sleep(0.005 + math.random() * 0.045)
        local slot = math.random(WORKERS)
        local w = workers[slot]
        local code = w.p:wait(0)
        assert.is_nil(code, w.id .. " ended by itself: " .. tostring(H.read(dir .. "/err." .. w.id)))
        w.p:kill("KILL")
        assert.equal(137, (w.p:wait(10)))
        local ph = (H.read(dir .. "/state." .. w.id) or "-"):sub(1, 1)
        phases[ph] = (phases[ph] or 0) + 1
        killed[w.id] = true
        start(slot)
      end

      -- stop the rest cleanly: they finish their section and release
      H.write(dir .. "/stop", "")
      for _, w in pairs(workers) do
        local code = w.p:wait(60)
        assert.equal(0, code, w.id .. ": " .. tostring(H.read(dir .. "/err." .. w.id)))
      end
      local elapsed = baton.now() - t0
      assert.is_nil(H.read(dir .. "/violations"))

      -- Every record: values 1..N in order, each section once, and each worker's log lists
      -- exactly its records (a killed one may lack its very last).
      local by_worker, total = {}, 0
      for _, name in ipairs(k.counters) do
        local list = records(dir .. "/" .. name)
        for i, r in ipairs(list) do
          assert.equal(i, r[1], name .. ": record " .. i .. " has value " .. r[1])
          local mine = by_worker[r[2]] or {}
          by_worker[r[2]] = mine
          mine[#mine + 1] = r[3]
        end
        total = total + #list
      end
      local reads, unlogged, ids = 0, 0, {}
      for _, name in ipairs(F.ls(dir)) do
        local id = name:match("^log%.(.+)$")
        if id then ids[#ids + 1] = id end
      end
      for _, id in ipairs(ids) do
        local writes, r = logged(dir, id)
        reads = reads + r
        local recs = by_worker[id] or {}
        by_worker[id] = nil
        table.sort(recs)
        for i, seq in ipairs(writes) do
          assert.equal(seq, recs[i], id .. ": logged section " .. seq .. " has no record")
        end
        if #recs == #writes + 1 then
          assert.is_true(killed[id], id .. " was not killed, yet has a record it did not log")
          local last = writes[#writes] or 0
          assert.is_true(recs[#recs] > last, id .. ": an unlogged record before its last logged one")
          unlogged = unlogged + 1
        else
          assert.equal(#writes, #recs, id .. ": " .. #recs .. " records, " .. #writes .. " logged")
        end
      end
      assert.is_nil(next(by_worker), "records of a worker without a log")

      -- No lock left held: the next acquirer gets it. A soft marker may name a killed holder
      -- (broken at once) or nobody (killed between creating and writing it: stale after 2 s).
      local leftover = ""
      if k.kind == "soft" then
        local h = baton.holder(path, { kind = "soft" })
        if h then
          leftover = h.malformed and " (left an empty marker)" or " (left a dead holder's marker)"
          assert.is_true(h.alive == false or (h.malformed and #h.holders == 0),
            "a marker of a live holder is left")
        end
        local l = baton.try_lock(path, { kind = "soft", timeout = 3 })
        assert.is_not_nil(l, "the soft lock was not taken over within its 2 s rule")
        l:release()
        assert.is_nil(H.read(path))
        local breaks = 0
        for _, name in ipairs(F.ls(dir)) do
          if name:match("^the%.lock%.baton%-break") or name:match("^%.baton%-break") then breaks = breaks + 1 end
        end
        assert.equal(0, breaks, "files of interrupted breaks are left behind")
      end
      assert.equal("free", F.probe(k.probe, path, k.n))
      assert.is_nil(baton.holder(path))

      F.report("kill storm %s: %d workers, %d SIGKILLs (%s), %d sections counted exactly "
        .. "(%d read sections, %d kills between commit and log), %.1f s%s", k.kind, WORKERS, ROUNDS,
        F.tally(phases, { { "A", "acquiring" }, { "C", "inside" }, { "R", "releasing" },
          { "I", "between sections" } }), total, reads, unlogged, elapsed, leftover)
    end)
  end
end)
