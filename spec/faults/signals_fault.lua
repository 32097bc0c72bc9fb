-- Signals arriving during waits. The processes here catch SIGUSR1, SIGWINCH and SIGCHLD
-- with a handler that does nothing (spec/faults/sigcatch.c, preloaded), so that each signal
-- interrupts whatever blocking call they are in, flock(2) included; spec/faults/storm.py
-- sends thousands a second. A wait must resume (or end at its deadline) cleanly, and never
-- return holding a lock it reports as not held, or the other way round. The baton
-- executable's own handlers (SIGINT, SIGTERM, SIGHUP, without SA_RESTART) end a wait by
-- unwinding the script: it exits 143 and releases only what it held.
--
-- BATON_FAULT_SIGNAL_SECTIONS (default 10000) records per kind under a storm;
-- BATON_FAULT_SIGTERM_ROUNDS (default 40) SIGTERMs to waiting scripts;
-- BATON_FAULT_SIGINT_ROUNDS (default 200) interrupts a script catches while it waits.
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local SECTIONS = F.count("SIGNAL_SECTIONS", 10000)
local TERMS = F.count("SIGTERM_ROUNDS", 40)
local INTS = F.count("SIGINT_ROUNDS", 200)
local WORKER = F.HERE .. "/worker.lua"
local STORM = F.HERE .. "/storm.py"

-- The catcher, built once per run (in the build folder: spec folders are removed after each
-- test).
local catcher
local function build_catcher()
  if catcher then return catcher end
  local dir = F.ROOT .. "/build/faults"
  os.execute("mkdir -p " .. H.quote(dir))
  local so = dir .. "/sigcatch.so"
  local code, out = H.run(string.format("%s -shared -fPIC -O2 -o %s %s", os.getenv("CC") or "cc",
    H.quote(so), H.quote(F.HERE .. "/sigcatch.c")))
  assert(code == 0, out)
  catcher = so
  return so
end

local function preload_env(restart)
  local so = build_catcher()
  local old = os.getenv("LD_PRELOAD")
  return { LD_PRELOAD = old and old ~= "" and (old .. " " .. so) or so,
    SIGCATCH_RESTART = restart and "1" or "0" }
end

-- Storms still running, stopped after each test whatever happened. A storm must end before
-- its targets are reaped: a reaped process's number may soon name another process.
local storms = {}

local function start_storm(dir, rate, pids, signals)
  os.remove(dir .. "/storm-stop")
  local argv = { H.PYTHON, STORM, dir .. "/storm-stop", dir .. "/storm-sent", tostring(rate),
    signals or "USR1,WINCH,CHLD", stdout = "null" }
  for _, pid in ipairs(pids) do argv[#argv + 1] = tostring(pid) end
  local storm = assert(baton.spawn(argv))
  storms[storm] = true
  return storm
end

local function stop_storm(dir, storm)
  H.write(dir .. "/storm-stop", "")
  assert.equal(0, (storm:wait(30)))
  storms[storm] = nil
  return tonumber(H.read(dir .. "/storm-sent"))
end

local function count_records(dir, counters)
  local n = 0
  for _, name in ipairs(counters) do
    local s = H.read(dir .. "/" .. name)
    n = n + (s and #s or 0) / 32
  end
  return n
end

-- A waiter under a storm: `timeouts` makes five attempts with a 0.3 s deadline on a lock
-- held elsewhere; `get` waits without a deadline for a lock released a moment later. Each
-- says what it got and whether it holds the lock by its own account and by the kernel's or
-- the marker's (baton.holder).
local WAITER = [[
local baton = require "baton"
local kind, path, mode = arg[1], arg[2], arg[3]
local me = tonumber(io.open("/proc/self/stat"):read("*l"):match("^%d+"))
local function take(o)
  if kind == "soft" then o.kind = "soft"; return baton.try_lock(path, o) end
  if kind == "rw-write" then return baton.rwlock(path):try_write(o) end
  if kind == "sem" then return baton.semaphore(path, 1):try_acquire(o) end
  return baton.try_lock(path, o)
end
local function mine()
  if kind == "flock" or kind == "soft" then
    local h = baton.holder(path)
    for _, e in ipairs(h and h.holders or {}) do if e.pid == me then return true end end
    return false
  end
  return nil -- (read/write locks and slots: asked of another process by the spec)
end
if mode == "timeouts" then
  for _ = 1, 5 do
    local t0 = baton.now()
    local g, msg, code = take({ timeout = 0.3 })
    print(string.format("%s %.3f %s %s", g and "got" or code, baton.now() - t0, tostring(mine()),
      tostring(msg)))
    if g then g:release() end
  end
else
  local g, msg, code
  if kind == "flock" then
    local ok, l = pcall(baton.lock, path) -- no options: waits in flock(2) itself
    g = ok and l or nil
    msg = not ok and l or nil
  else
    g, msg, code = take({ timeout = -1 })
  end
  local held = g and (g.is_locked and g:is_locked() or g.is_held and g:is_held())
  print(string.format("%s 0 %s %s %s", g and "got" or tostring(code), tostring(mine()), tostring(held),
    tostring(msg)))
  if g then g:release() end
end
]]

describe("signals during waits", function()
  after_each(function()
    for storm in pairs(storms) do
      storm:kill("KILL")
      storm:wait(10)
    end
    storms = {}
    H.cleanup()
  end)

  local KINDS = {
    { kind = "flock", counters = { "counter" } },
    { kind = "flock-mixed", counters = { "counter" } },
    { kind = "soft", counters = { "counter" } },
    { kind = "rw", counters = { "counter" } },
    { kind = "sem", counters = { "counter.1", "counter.2" } },
  }
  for _, k in ipairs(KINDS) do
    it(k.kind .. ": a storm of caught signals interrupts every wait, and exclusion holds", function()
      F.seed("signal storm " .. k.kind)
      local dir = H.tmpdir()
      local path = dir .. "/the.lock"
      local workers, pids = {}, {}
      for i = 1, 4 do
        local id = "w" .. i
        -- half without SA_RESTART (every blocking call fails with EINTR), half with it
        workers[i] = { id = id, p = F.lua(WORKER, { k.kind, path, dir, id, math.random(1, 2 ^ 30) },
          { stdout = "null", stderr = dir .. "/err." .. id, env = preload_env(i % 2 == 0) }) }
        pids[i] = workers[i].p.pid
      end
      local storm = start_storm(dir, 500, pids)
      local t0 = baton.now()
      while count_records(dir, k.counters) < SECTIONS and baton.now() - t0 < 60 do
        for _, w in ipairs(workers) do
          assert.is_true(w.p:running(), w.id .. " ended: " .. tostring(H.read(dir .. "/err." .. w.id)))
        end
        baton.sleep(0.05)
      end
      H.write(dir .. "/stop", "")
      local sent = stop_storm(dir, storm)
      for _, w in ipairs(workers) do
        assert.equal(0, (w.p:wait(60)), w.id .. ": " .. tostring(H.read(dir .. "/err." .. w.id)))
      end
      assert.is_nil(H.read(dir .. "/violations"))
      local total, reads = F.account(dir, k.counters, {})
      assert.equal("free", F.probe(k.kind == "rw" and "rw-write" or k.kind == "sem" and "sem"
        or k.kind == "soft" and "soft" or "flock", path, k.kind == "sem" and 2 or nil))
      F.report("signal storm %s: 4 workers (2 without SA_RESTART), %d signals (USR1, WINCH, CHLD) "
        .. "in %.1f s, %d sections counted exactly (%d read), no wait failed", k.kind, sent,
        baton.now() - t0, total, reads)
    end)
  end

  for _, kind in ipairs({ "flock", "soft", "rw-write", "sem" }) do
    it(kind .. ": under a storm, deadlines hold and a wait without one resumes until it gets the lock", function()
      local dir = H.tmpdir()
      local path = dir .. "/the.lock"
      local holder = F.hold(kind, path, 60)
      local env = preload_env(false)
      local waiter = assert(baton.spawn{ H.LUA, H.script(WAITER), kind, path, "timeouts", env = env,
        stdout = "pipe" })
      local storm = start_storm(dir, 1000, { waiter.pid })
      local out = waiter.stdout:read("a")
      local sent = stop_storm(dir, storm)
      assert.equal(0, (waiter:wait(30)), out)
      local n = 0
      for code, took, mine in out:gmatch("(%S+) (%S+) (%S+)[^\n]*\n") do
        n = n + 1
        assert.equal("timeout", code, out)
        assert.is_true(tonumber(took) >= 0.29 and tonumber(took) < 1.5, out)
        assert.is_true(mine ~= "true", out)
      end
      assert.equal(5, n, out)
      assert.is_true(holder:running())
      assert.equal("busy", F.probe(kind == "rw-write" and "rw-read" or kind, path))

      -- now a wait without a deadline, and the holder lets go a moment later
      holder:kill("KILL")
      holder:wait(10)
      F.hold(kind, path, 0.5) -- a new holder, letting go by itself after 0.5 s
      waiter = assert(baton.spawn{ H.LUA, H.script(WAITER), kind, path, "get", env = env, stdout = "pipe" })
      storm = start_storm(dir, 1000, { waiter.pid })
      out = waiter.stdout:read("a")
      sent = sent + stop_storm(dir, storm)
      assert.equal(0, (waiter:wait(30)), out)
      local code, _, mine, held = out:match("^(%S+) (%S+) (%S+) (%S+)")
      assert.equal("got", code, out)
      assert.equal("true", held, out)
      if kind == "flock" or kind == "soft" then assert.equal("true", mine, out) end
      assert.equal("free", F.probe(kind == "rw-write" and "rw-write" or kind, path))
      F.report("signal storm on one waiter, %s: %d signals; 5 waits with a 0.3 s deadline each ended "
        .. "by it (never early, never holding), and a wait without one got the lock", kind, sent)
    end)
  end

  it("SIGTERM to a baton script blocked in flock(2): status 143, its own lock released, the other left alone", function()
    F.seed("SIGTERM during blocking waits")
    local dir = H.tmpdir()
    local script = dir .. "/job.lua"
    H.write(script, [[
      local baton = require "baton"
      local mine, theirs, waiting = arg[1], arg[2], arg[3]
      local a <close> = baton.lock(mine)
      io.open(waiting, "w"):close()
      local b <close> = baton.lock(theirs) -- no options: blocks in flock(2) itself
      io.open(waiting .. ".got", "w"):close()
      baton.sleep(30)
    ]])
    local got, freed = 0, 0
    for round = 1, TERMS do
      local mine, theirs, waiting = dir .. "/mine" .. round, dir .. "/theirs" .. round, dir .. "/waiting" .. round
      -- in some rounds the other holder lets go right around the signal
      local racing = round % 3 == 0
      local other = F.hold("flock", theirs, racing and (0.05 + math.random() * 0.05) or 30)
      local p = assert(baton.spawn{ "env", "--default-signal=INT,TERM,HUP", F.BIN, script, mine, theirs,
        waiting, stderr = "pipe" })
      H.wait_file(waiting)
      baton.sleep(math.random() * 0.08)
      p:kill("TERM")
      assert.equal(143, (p:wait(10)))
      assert.matches("interrupted by SIGTERM", p.stderr:read("a"), 1, true)
      assert.equal("free", F.probe("flock", mine))
      if H.read(waiting .. ".got") then got = got + 1 end
      if racing then
        assert.equal(0, (other:wait(10))) -- it let go by itself
        freed = freed + 1
        assert.equal("free", F.probe("flock", theirs)) -- not kept by the ended script
      else
        assert.equal("busy", F.probe("flock", theirs)) -- still the other holder's
        assert.is_true(other:running())
        other:kill("KILL")
        other:wait(10)
      end
    end
    F.report("SIGTERM during a blocking wait: %d baton scripts blocked in flock(2) (%d while the holder "
      .. "let go, %d had got the lock): all exited 143, released their own lock and left the other "
      .. "as it was", TERMS, freed, got)
  end)

  it("interrupts a baton script catches while it waits: is_locked() always tells the truth", function()
    local dir = H.tmpdir()
    local path = dir .. "/busy.lock"
    -- a peer that takes and releases the lock all the time
    local peer = assert(baton.spawn{ H.LUA, "-e", string.format([[
      local baton = require "baton"
      local l = baton.new(%q)
      while true do l:acquire(); baton.sleep(0.002); l:release(); baton.sleep(0.001) end
    ]], path) })
    local script = dir .. "/job.lua"
    H.write(script, [[
      local baton = require "baton"
      local path, out, rounds = arg[1], arg[2], tonumber(arg[3])
      local me = tonumber(io.open("/proc/self/stat"):read("*l"):match("^%d+"))
      local log = io.open(out, "w")
      log:setvbuf("line")
      local l = baton.new(path)
      local caught, held, wrong = 0, 0, 0
      -- Does the kernel list this process as a holder, and does the object say it holds?
      local function look()
        local truth = false
        local h = baton.holder(path)
        for _, e in ipairs(h and h.holders or {}) do if e.pid == me then truth = true end end
        return truth, l:is_locked()
      end
      -- Everything runs in here, so that an interrupt anywhere is caught; after each one
      -- (and after each acquisition) the two looks are compared, taken afresh if interrupted.
      local need_look = false
      local function run()
        while true do
          if need_look then
            local truth, claimed = look()
            if truth ~= claimed then
              wrong = wrong + 1
              log:write("wrong: is_locked ", tostring(claimed), " but held ", tostring(truth), "\n")
            end
            need_look = false
          end
          if l:is_locked() then
            l:release()
            held = held + 1
          end
          if caught >= rounds then
            log:write(string.format("done %d %d %d\n", caught, held, wrong))
            return
          end
          need_look = true
          l:acquire(math.random() < 0.5 and { timeout = 5 } or nil)
        end
      end
      repeat
        local ok = pcall(run)
        if not ok then caught, need_look = caught + 1, true end
      until ok
]])
    local out = dir .. "/out"
    local p = assert(baton.spawn{ "env", "--default-signal=INT,TERM,HUP", F.BIN, script, path, out,
      tostring(INTS), stderr = "pipe" })
    local sent, t0 = 0, baton.now()
    H.wait_file(out)
    while p:running() and baton.now() - t0 < 60 do
      baton.sleep(0.002 + math.random() * 0.02)
      p:kill("INT")
      sent = sent + 1
    end
    local status = p:wait(10)
    peer:kill("KILL")
    peer:wait(10)
    local log = H.read(out)
    assert.equal(130, status, log) -- it outlived its interruptions: 128 + SIGINT
    assert.is_nil(log:match("wrong:"), log)
    local caught, held = log:match("done (%d+) (%d+) 0")
    assert.is_not_nil(caught, log)
    F.report("SIGINT caught by a baton script while it waits: %d signals, %d interrupts caught "
      .. "(in waits, looks and releases), %d acquisitions; is_locked() agreed with the kernel "
      .. "every time", sent, caught, held)
  end)
end)
