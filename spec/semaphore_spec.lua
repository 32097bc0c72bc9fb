-- Counting semaphores against real processes: at most n holders at any moment, slots freed
-- by the kernel when a holder dies, exact work counts, and the files the semaphore uses.
local baton = require "baton"
local H = require "helpers"
local R = require "helpers.rw"

local raises = H.raises

-- A Lua child holding one slot of the semaphore at `path` with `n` slots; returns its pid
-- and the slot it holds.
local HOLDER = [[
local baton = require "baton"
local ready, path, n = arg[1], arg[2], tonumber(arg[3])
local g = baton.semaphore(path, n):acquire({ timeout = 30 })
local f = assert(io.open(ready, "w")); f:write(tostring(g.slot)); f:close()
baton.sleep(30)
]]
local function holder(path, n)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(H.script(HOLDER), ready, path, n))
  H.wait_for(function() return (H.read(ready) or "") ~= "" end, 10, "a holder")
  return pid, tonumber(H.read(ready))
end

describe("semaphores", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/builds"
  end)
  after_each(function()
    collectgarbage()
    H.cleanup()
  end)

  it("let n processes in at once, never n + 1, and lose no work", function()
    local n, procs, rounds = 3, 4, 15
    local inside = dir .. "/inside"
    os.execute("mkdir " .. H.quote(inside))
    local counter = dir .. "/done"
    H.write(counter, "0")
    -- Each worker checks for itself: nobody else holds its slot, and no more than n workers
    -- are inside (markers are made after acquiring and removed before releasing, so they
    -- are never more than the holders). Completed rounds are counted under a flock lock.
    local worker = H.script([[
      local baton = require "baton"
      local path, inside, counter = arg[1], arg[2], arg[3]
      local n, rounds = tonumber(arg[4]), tonumber(arg[5])
      local sem = baton.semaphore(path, n)
      local count = baton.new(counter .. ".lock")
      local pid = io.open("/proc/self/stat"):read("*l"):match("^%d+")
      local function write(p, s) local f = assert(io.open(p, "w")); f:write(s); f:close() end
      local function read(p) local f = io.open(p); if not f then return nil end
        local s = f:read("*a"); f:close(); return s end
      for _ = 1, rounds do
        local g = sem:acquire({ timeout = 60 })
        local mine = inside .. "/pid." .. pid
        local slot = inside .. "/slot." .. g.slot
        write(mine, "")
        write(slot, pid)
        local ls = io.popen("ls " .. inside)
        local pids = 0
        for name in ls:lines() do if name:match("^pid%.") then pids = pids + 1 end end
        ls:close()
        if pids > n then io.stderr:write(pids .. " inside\n"); os.exit(2) end
        baton.sleep(0.005)
        if read(slot) ~= pid then io.stderr:write("slot shared\n"); os.exit(3) end
        os.remove(slot)
        os.remove(mine)
        count:with(function()
          write(counter, tostring(tonumber(read(counter)) + 1))
        end)
        g:release()
      end
    ]])
    local start, join = {}, {}
    for i = 1, procs do
      start[i] = H.lua_cmd(worker, path, inside, counter, n, rounds) .. " & p" .. i .. "=$!;"
      join[i] = "wait $p" .. i
    end
    local code, out = H.run(table.concat(start, " ") .. table.concat(join, " && "))
    assert.equal(0, code, out)
    assert.equal(tostring(procs * rounds), H.read(counter))
    assert.same({}, R.ls(inside))
  end)

  it("frees a killed holder's slot at once", function()
    local a, slot_a = holder(path, 2)
    local b, slot_b = holder(path, 2)
    assert.same({ 1, 2 }, { math.min(slot_a, slot_b), math.max(slot_a, slot_b) })
    local sem = baton.semaphore(path, 2)
    local g, msg, code = sem:try_acquire()
    assert.is_nil(g)
    assert.equal("busy", code)
    assert.matches("all 2 slots", msg, 1, true)
    assert.matches(path, msg, 1, true)
    R.kill(a, "KILL")
    local got = sem:acquire({ timeout = 5 })
    assert.equal(slot_a, got.slot)
    assert.equal(path .. "." .. slot_a, got.path)
    assert.is_true(got:is_held())
    R.kill(b, "KILL")
    got:release()
  end)

  it("wakes a waiter when a holder lets go", function()
    local a = holder(path, 1)
    local sem = baton.semaphore(path, 1)
    local t0 = baton.now()
    os.execute("(sleep 0.3; kill -KILL " .. a .. ") &")
    local g = sem:acquire({ timeout = 10 })
    assert.is_true(baton.now() - t0 < 9)
    g:release()
  end)

  it("counts a slot held by flock(1) or Python filelock as taken", function()
    local f = H.flock_holder(path .. ".1", 30)
    local sem = baton.semaphore(path, 2)
    local g = sem:acquire({ timeout = 5 })
    assert.equal(2, g.slot)
    assert.equal("busy", select(3, sem:try_acquire()))
    g:release()
    local py = H.python_holder(path .. ".2", 30)
    assert.equal("busy", select(3, sem:try_acquire()))
    H.kill(f)
    local g2 = sem:acquire({ timeout = 5 })
    assert.equal(1, g2.slot)
    g2:release()
    H.kill(py)
  end)

  it("takes a new slot for every acquisition, also from one object", function()
    local sem = baton.semaphore(path, 3)
    local g1, g2 = sem:acquire(), sem:acquire()
    assert.equal(1, g1.slot)
    assert.equal(2, g2.slot)
    g1:release()
    local g3 = sem:acquire()
    assert.equal(1, g3.slot)
    local g4 = baton.semaphore(path, 3):acquire()
    assert.equal(3, g4.slot)
    assert.equal("busy", select(3, sem:try_acquire()))
    g2:release()
    g3:release()
    g4:release()
  end)

  it("times out, cancels and pauses through a cooperative sleep function", function()
    local pid = holder(path, 1)
    local sem = baton.semaphore(path, 1)
    local slept = 0
    local err = raises("timed out", sem.acquire, sem, { timeout = 0.3, sleep = function(s)
      slept = slept + 1
      baton.sleep(s)
    end })
    assert.matches(path, err, 1, true)
    assert.is_true(slept > 0)
    local n = 0
    assert.equal("cancelled", select(3, sem:try_acquire({ timeout = 10,
      cancel = function() n = n + 1; return n > 2 end })))
    assert.equal("timeout", select(3, baton.semaphore(path, 1, { timeout = 0.1 }):try_acquire()))
    local co = coroutine.wrap(function()
      local g = sem:acquire({ timeout = 10, sleep = function(s) coroutine.yield(s) end })
      local slot = g.slot
      g:release()
      return slot
    end)
    local turns, res = 0
    repeat
      res = co()
      turns = turns + 1
      if turns == 3 then H.kill(pid, "KILL") end
      if res < 1 then baton.sleep(res) end
    until res >= 1
    assert.equal(1, res)
    assert.is_true(turns > 3)
  end)

  it("uses the files path.1 .. path.n, creating them empty and never writing them", function()
    H.write(path .. ".2", "someone's notes\n")
    local sem = baton.semaphore(path, 3, { mode = "0600" })
    local gs = { sem:acquire(), sem:acquire(), sem:acquire() }
    for _, g in ipairs(gs) do g:release() end
    assert.same({ "builds.1", "builds.2", "builds.3" }, R.ls(dir))
    assert.equal(0, R.size(path .. ".1"))
    assert.equal("someone's notes\n", H.read(path .. ".2"))
    assert.equal("600", select(2, H.run("stat -c %a " .. H.quote(path .. ".3"))):match("%d+"))
    local deep = baton.semaphore(dir .. "/a/b/jobs", 1):acquire()
    assert.equal(dir .. "/a/b/jobs.1", deep.path)
    deep:release()
  end)

  it("reports a slot file it cannot use, naming it", function()
    os.execute("mkdir " .. H.quote(path .. ".2"))
    local sem = baton.semaphore(path, 2)
    local first = sem:acquire()
    local g, msg, code = sem:try_acquire()
    assert.is_nil(g)
    assert.equal("busy", code) -- slot 1 is held: the unusable slot 2 is only passed over
    assert.matches(path .. ".2", msg, 1, true)
    assert.matches("EISDIR", msg, 1, true)
    raises(path .. ".2", sem.acquire, sem, { timeout = 1 })
    first:release()
    assert.equal("ENOENT", select(3, baton.semaphore(dir .. "/no/such", 1, { mkdir = false }):try_acquire()))
  end)

  describe("guards", function()
    it("release through <close>, :release() once, :with and collection", function()
      local sem = baton.semaphore(path, 1)
      if H.is54 then
        pcall(H.run54, [[
          local sem = ...
          local g <close> = sem:acquire()
          error("boom")
        ]], sem)
        assert.equal(1, sem:try_acquire().slot) -- free again, then collected below
      end
      collectgarbage()
      collectgarbage()
      local g = sem:acquire({ timeout = 5 })
      g:release()
      raises("already released", g.release, g)
      assert.is_false(g:is_held())
      local a, b = sem:with(function(x) return x, "b" end, "a")
      assert.equal("a", a)
      assert.equal("b", b)
      local ok, err = pcall(sem.with, sem, function() error({ tag = 1 }) end)
      assert.is_false(ok)
      assert.equal(1, err.tag)
      assert.equal(1, sem:try_acquire().slot) -- dropped without a release
      collectgarbage()
      collectgarbage()
      sem:acquire({ timeout = 5 }):release()
    end)
  end)

  it("rejects a bad number of slots and options that do not apply", function()
    for _, n in ipairs({ 0, -1, 1.5, 1025, 0 / 0 }) do
      raises("number of slots must be an integer from 1 to 1024", baton.semaphore, path, n)
    end
    raises("number of slots must be an integer", baton.semaphore, path, "2")
    raises("number of slots must be an integer", baton.semaphore, path)
    raises("lock path must be a string", baton.semaphore, 42, 2)
    raises("option 'shared' does not apply", baton.semaphore, path, 2, { shared = true })
    raises("unknown option 'timout'", baton.semaphore, path, 2, { timout = 1 })
    local sem = baton.semaphore(path, 2)
    raises("option 'mode' is set when the lock is made", sem.acquire, sem, { mode = 420 })
    raises("expected a function", sem.with, sem, 42)
  end)
end)
