-- Ownership is per coroutine: one lock object shared by coroutines (OpenResty light
-- threads, baton.jobs jobs, plain coroutines) lets one of them in at a time, counts levels
-- per coroutine, and a real peer in another process sees the lock held for as long as any
-- of them is inside.
local baton = require "baton"
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."

-- What another process sees: flock(1) for flock locks, spec/helpers/probe.lua otherwise.
local function peer(kind, path)
  if kind == "flock" then
    return (H.run("flock -n " .. H.quote(path) .. " true")) == 0 and "free" or "busy"
  end
  local _, out = H.run(H.LUA .. " " .. H.quote(ROOT .. "/spec/helpers/probe.lua") .. " " .. kind
    .. " " .. H.quote(path))
  return (out:gsub("%s+$", ""))
end

-- Run the functions as coroutines, round-robin, until all have ended.
local function run_all(fns)
  local threads = {}
  for i, f in ipairs(fns) do threads[i] = coroutine.create(f) end
  for _ = 1, 100000 do
    local alive = false
    for _, t in ipairs(threads) do
      if coroutine.status(t) == "suspended" then
        local ok, err = coroutine.resume(t)
        assert(ok, err)
        alive = true
      end
    end
    if not alive then return end
    baton.sleep(0.0005)
  end
  error("the coroutines never ended")
end

local function yield_sleep(s)
  assert(type(s) == "number")
  coroutine.yield()
end

-- Two coroutines, each entering the critical section twice through the same object.
local function check_exclusion(take, release, kind, path)
  local inside, most, freed_under = 0, 0, false
  local function worker()
    for _ = 1, 2 do
      local g = take()
      inside = inside + 1
      most = math.max(most, inside)
      coroutine.yield()
      assert.equal("busy", peer(kind, path), "a peer got the lock while a coroutine was inside")
      coroutine.yield()
      inside = inside - 1
      release(g)
      if inside > 0 and peer(kind, path) == "free" then freed_under = true end
    end
  end
  run_all({ worker, worker })
  assert.equal(1, most, "two coroutines were inside at once")
  assert.is_false(freed_under, "the first to leave freed the lock while another was inside")
  assert.equal("free", peer(kind, path))
end

-- A peer process that holds `kind` at `path` for `seconds` (spec/helpers/hold.lua).
local function hold(kind, path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.LUA .. " " .. H.quote(ROOT .. "/spec/helpers/hold.lua") .. " " .. kind
    .. " " .. H.quote(path) .. " " .. seconds .. " " .. H.quote(ready))
  H.wait_file(ready)
  return pid
end

describe("ownership per coroutine", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/own.lock"
  end)
  after_each(H.cleanup)

  it("one flock lock object shared by coroutines lets one in at a time", function()
    local l = baton.new(path)
    check_exclusion(function() return l:acquire({ sleep = yield_sleep }) end,
      function() l:release() end, "flock", path)
  end)

  it("the same with a soft lock object", function()
    local l = baton.new(path, { kind = "soft" })
    check_exclusion(function() return l:acquire({ sleep = yield_sleep }) end,
      function() l:release() end, "soft", path)
  end)

  it("the same with rw:write() guards of one read/write lock object", function()
    local rw = baton.rwlock(path)
    check_exclusion(function() return rw:write({ sleep = yield_sleep }) end,
      function(g) g:release() end, "rw-write", path)
  end)

  it("coroutines that all start waiting while a peer holds the lock get in one at a time", function()
    for _, case in ipairs({
      { "flock", function(l) return l:acquire({ sleep = yield_sleep, timeout = 10 }) end },
      { "rw-write", function(rw) return rw:write({ sleep = yield_sleep, timeout = 10 }) end },
    }) do
      local kind, take = case[1], case[2]
      local p = dir .. "/" .. kind .. ".lock"
      local obj = kind == "flock" and baton.new(p) or baton.rwlock(p)
      hold(kind, p, 0.3)
      local inside, most, freed_under = 0, 0, false
      local function worker()
        local g = take(obj)
        inside = inside + 1
        most = math.max(most, inside)
        for _ = 1, 5 do coroutine.yield() end
        inside = inside - 1
        if kind == "flock" then obj:release() else g:release() end
        if inside > 0 and peer(kind, p) == "free" then freed_under = true end
      end
      run_all({ worker, worker, worker })
      assert.equal(1, most, kind .. ": two coroutines were inside at once")
      assert.is_false(freed_under, kind .. ": the lock was freed while a coroutine was inside")
      assert.equal("free", peer(kind, p))
    end
  end)

  it("the same with baton.jobs jobs and a lock object made once, without options", function()
    local l = baton.new(path)
    local inside, most, freed_under, peer_saw = 0, 0, false, {}
    local jobs = baton.jobs()
    for _ = 1, 3 do
      jobs:add(function()
        l:acquire() -- inside a job the wait yields to the other jobs
        inside = inside + 1
        most = math.max(most, inside)
        baton.sleep(0.05)
        peer_saw[#peer_saw + 1] = peer("flock", path)
        baton.sleep(0.05)
        inside = inside - 1
        l:release()
        if inside > 0 and peer("flock", path) == "free" then freed_under = true end
      end)
    end
    local ok, failed = jobs:wait()
    assert.is_true(ok, failed[1] and failed[1].error)
    assert.equal(1, most, "two jobs were inside at once")
    assert.is_false(freed_under, "the first job to leave freed the lock while another was inside")
    assert.same({ "busy", "busy", "busy" }, peer_saw)
    assert.equal("free", peer("flock", path))
  end)

  it("counts levels per coroutine and answers count and is_locked for the caller", function()
    local l = baton.new(path)
    local co = coroutine.create(function()
      l:acquire()
      l:acquire()
      coroutine.yield(l:count(), l:is_locked())
      l:release()
      coroutine.yield(l:count())
      l:release()
      return l:count()
    end)
    local _, n, held = coroutine.resume(co)
    assert.equal(2, n)
    assert.is_true(held)
    assert.equal(0, l:count()) -- the main thread holds no level
    assert.is_false(l:is_locked())
    H.raises("held by another coroutine, not by this one", l.release, l)
    H.raises("held by another coroutine, not by this one", l.release, l, { force = true })
    H.raises("held by another coroutine, not by this one", l.close, l)
    assert.equal("busy", peer("flock", path))
    assert.same({ true, 1 }, { coroutine.resume(co) })
    assert.equal("busy", peer("flock", path))
    assert.same({ true, 0 }, { coroutine.resume(co) })
    assert.equal("free", peer("flock", path))
  end)

  it("try_acquire from another coroutine is busy and says who holds it", function()
    local l = baton.new(path)
    l:acquire()
    local got, msg, code = coroutine.wrap(function() return l:try_acquire() end)()
    assert.is_nil(got)
    assert.equal("busy", code)
    assert.matches("another coroutine of this process", msg, 1, true)
    assert.matches(path, msg, 1, true)
    assert.equal(1, l:count())
    l:release()
    assert.equal("free", peer("flock", path))
  end)

  it("a coroutine that cannot yield fails at once instead of waiting for itself", function()
    local l = baton.new(path)
    l:acquire()
    local t0 = baton.now()
    local ok, err = coroutine.wrap(function() return pcall(l.acquire, l) end)()
    assert.is_false(ok)
    assert.matches("another coroutine of this process", err, 1, true)
    assert.matches("could never end", err, 1, true)
    assert.is_true(baton.now() - t0 < 1)
    -- with a timeout it is an ordinary wait, and the timeout names the holder
    ok, err = coroutine.wrap(function() return pcall(l.acquire, l, { timeout = 0.1 }) end)()
    assert.is_false(ok)
    assert.matches("timed out", err, 1, true)
    assert.matches("another coroutine of this process", err, 1, true)
    assert.equal(1, l:count())
    assert.equal("busy", peer("flock", path))
    l:release()
    assert.equal("free", peer("flock", path))
  end)

  it("a semaphore whose every slot this object's coroutines hold fails at once", function()
    -- in a child with a time limit: before, this waited for ever
    local script = H.script([[
      local baton = require "baton"
      local sem = baton.semaphore(arg[1], 1)
      local g = sem:acquire()
      local ok, err = coroutine.wrap(function() return pcall(sem.acquire, sem) end)()
      print(ok, err)
      g:release()
    ]])
    local code, out = H.run("timeout 10 " .. H.lua_cmd(script, dir .. "/sem"))
    assert.equal(0, code, out)
    assert.matches("false", out, 1, true)
    assert.matches("this process, through this same semaphore object", out, 1, true)
  end)

  it("levels left by a coroutine that ended go to the next coroutine that uses the object", function()
    local l = coroutine.wrap(function()
      local l = baton.new(path)
      l:acquire()
      return l
    end)()
    assert.is_true(l:is_locked())
    assert.equal(1, l:count())
    l:release()
    assert.equal("free", peer("flock", path))
    -- and while its coroutine lives, another coroutine waits cooperatively for it
    local rw = baton.rwlock(dir .. "/rw.lock")
    local co = coroutine.create(function()
      local g = rw:write()
      coroutine.yield()
      g:release()
    end)
    assert(coroutine.resume(co))
    local got
    run_all({
      function()
        got = rw:write({ sleep = yield_sleep })
        assert.is_true(coroutine.status(co) == "dead", "entered while the holder was inside")
      end,
      function()
        coroutine.yield()
        coroutine.yield()
        assert(coroutine.resume(co))
      end,
    })
    assert.is_truthy(got)
    got:release()
  end)

  it("a lock closed from its own sleep callback ends the wait and holds nothing", function()
    local holder = H.flock_holder(path, 0.5)
    local l = baton.new(path)
    local slept = 0
    local ok, err = pcall(l.acquire, l, {
      timeout = 5,
      sleep = function(s)
        slept = slept + 1
        if slept == 2 then l:close() end
        baton.sleep(s)
      end,
    })
    assert.is_false(ok)
    assert.matches("was closed while waiting for it", err, 1, true)
    H.wait_for(function() return not H.alive(holder) end, 5, "the holder's end")
    baton.sleep(0.1)
    assert.equal("free", peer("flock", path))
    assert.is_false(l:is_locked())
    -- the same for a read/write lock
    local rw = baton.rwlock(dir .. "/rw.lock")
    local g = baton.rwlock(dir .. "/rw.lock"):write()
    slept = 0
    ok, err = pcall(rw.write, rw, {
      timeout = 5,
      sleep = function(s)
        slept = slept + 1
        if slept == 2 then
          rw:close()
          g:release()
        end
        baton.sleep(s)
      end,
    })
    assert.is_false(ok)
    assert.matches("was closed while waiting for it", err, 1, true)
    assert.equal("free", peer("rw-write", dir .. "/rw.lock"))
  end)

  if H.is54 then
    it("nested <close> scopes give back exactly the level each took", function()
      local other = H.run54([[
        local baton, path, peer = ...
        local l = baton.new(path)
        local seen = {}
        do
          local a <close> = l:acquire()
          assert(a == l)
          do
            local b <close> = l:acquire()
            assert(b == l and b.path == path and b:count() == 2 and b:is_locked())
            l:release()
          end
          seen.inner = l:count()
          seen.peer = peer("flock", path)
          local t = baton.try_lock(path)
          seen.other = t and "got it" or "busy"
          if t then t:release() end
        end
        seen.after = l:count()
        seen.free = peer("flock", path)
        -- a level released through its guard, inside its own scope: the scope does nothing more
        do
          local a <close> = l:acquire()
          do
            local b <close> = l:acquire()
            b:release()
            assert(l:count() == 1)
          end
          seen.guard = l:count()
        end
        return seen
      ]], baton, path, peer)
      assert.equal(1, other.inner)
      assert.equal("busy", other.peer)
      assert.equal("busy", other.other)
      assert.equal(0, other.after)
      assert.equal("free", other.free)
      assert.equal(1, other.guard)
    end)
  end
end)
