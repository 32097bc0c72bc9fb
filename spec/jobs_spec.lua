-- baton.jobs: coroutines that run side by side, where every wait (sleep, process, pipe,
-- lock) lets the others run.
local baton = require "baton"
local H = require "helpers"

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err), 1, true)
end

describe("baton.jobs", function()
  after_each(H.cleanup)

  it("runs 6 half-second sleeps two at a time in about 1.5 s", function()
    local jobs = baton.jobs{ max = 2 }
    local running, most = 0, 0
    for i = 1, 6 do
      jobs:add(function()
        running = running + 1
        most = math.max(most, running)
        baton.sleep(0.5)
        running = running - 1
        return i * 10
      end)
    end
    local t0 = baton.now()
    local ok, failed = jobs:wait()
    local took = baton.now() - t0
    assert.is_true(ok)
    assert.same({}, failed)
    assert.equal(2, most)
    assert.is_true(took >= 1.45, "too fast: " .. took)
    assert.is_true(took < 3, "too slow: " .. took)
    for i, job in ipairs(jobs.list) do
      assert.equal("done", job.status)
      assert.equal(i * 10, job.results[1])
    end
  end)

  it("reports a failing job and lets the others finish", function()
    local jobs = baton.jobs{ max = 2 }
    local finished = {}
    for i = 1, 4 do
      jobs:add("host" .. i, function()
        baton.sleep(0.1)
        if i == 2 then error("host2 is down") end
        baton.sleep(0.1)
        finished[#finished + 1] = i
      end)
    end
    local ok, failed = jobs:wait()
    assert.is_false(ok)
    assert.equal(1, #failed)
    assert.equal("host2", failed[1].name)
    assert.equal("failed", failed[1].status)
    assert.matches("host2 is down", failed[1].error)
    assert.matches("stack traceback", failed[1].traceback)
    table.sort(finished)
    assert.same({ 1, 3, 4 }, finished)
  end)

  it("waits for processes side by side", function()
    local jobs = baton.jobs{ max = 4 }
    for i = 1, 4 do
      jobs:add(function()
        local ok, code, out = baton.run{ "sh", "-c", "sleep 0.5; echo " .. i }
        assert(ok and code == 0 and out == i .. "\n")
        local p = assert(baton.spawn{ "sleep", "0.3" })
        assert(p:wait() == 0)
      end)
    end
    local t0 = baton.now()
    assert.is_true((jobs:wait()))
    local took = baton.now() - t0
    assert.is_true(took < 1.6, "processes did not overlap: " .. took)
  end)

  for _, opts in ipairs({ { timeout = 5 }, false }) do
  local how = opts and "with a timeout" or "without options (never blocking in flock)"
  it("yields while waiting for a lock " .. how .. ", and takes it when the holder lets go", function()
    local path = H.tmpdir() .. "/shared.lock"
    local order, ticks = {}, 0
    local jobs = baton.jobs()
    jobs:add("holder", function()
      local l = baton.lock(path)
      order[#order + 1] = "holder has it"
      baton.sleep(0.5)
      order[#order + 1] = "holder lets go"
      l:release()
    end)
    jobs:add("waiter", function()
      baton.sleep(0.05)
      local l = baton.lock(path, opts or nil)
      order[#order + 1] = "waiter has it"
      l:release()
    end)
    jobs:add("ticker", function()
      for _ = 1, 10 do
        baton.sleep(0.03)
        ticks = ticks + 1
      end
    end)
    assert.is_true((jobs:wait()))
    assert.same({ "holder has it", "holder lets go", "waiter has it" }, order)
    assert.equal(10, ticks)
  end)
  end

  it("reads pipes without holding up the other jobs", function()
    local jobs = baton.jobs()
    local got, ticks = nil, 0
    jobs:add(function()
      local p = assert(baton.spawn{ "sh", "-c", "sleep 0.4; echo late", stdout = "pipe" })
      got = p.stdout:read()
      p:wait()
    end)
    jobs:add(function()
      while not got do
        baton.sleep(0.02)
        ticks = ticks + 1
      end
    end)
    assert.is_true((jobs:wait()))
    assert.equal("late", got)
    assert.is_true(ticks >= 5, "only " .. ticks .. " ticks")
  end)

  it("runs jobs added by jobs, plain yields and nested job sets", function()
    local jobs = baton.jobs{ max = 2 }
    local seen = {}
    jobs:add(function()
      coroutine.yield("ignored") -- a plain yield: the job simply goes on later
      jobs:add(function() seen[#seen + 1] = "added later" end)
      local inner = baton.jobs{ max = 2 }
      for i = 1, 3 do inner:add(function() baton.sleep(0.05); seen[#seen + 1] = "inner " .. i end) end
      assert(inner:wait())
      seen[#seen + 1] = "outer done"
    end)
    assert.is_true((jobs:wait()))
    table.sort(seen)
    assert.same({ "added later", "inner 1", "inner 2", "inner 3", "outer done" }, seen)
  end)

  it("passes arguments and keeps results", function()
    local jobs = baton.jobs()
    local j = jobs:add(function(a, b) return a + b, "x" end, 2, 3)
    local named = jobs:add("named", function(...) return select("#", ...) end, nil, nil)
    assert.equal("queued", j.status)
    jobs:wait()
    assert.equal(5, j.results[1])
    assert.equal("x", j.results[2])
    assert.equal(2, named.results[1])
    assert.equal("named", named.name)
    assert.equal("job 1", j.name)
  end)

  it("rejects misuse", function()
    raises("options must be a table", baton.jobs, 3)
    raises("option 'max' must be a positive integer", baton.jobs, { max = 0 })
    raises("option 'max' must be a positive integer", baton.jobs, { max = 1.5 })
    raises("unknown option 'maximum'", baton.jobs, { maximum = 2 })
    local jobs = baton.jobs()
    raises("expected a function, got nil", jobs.add, jobs)
    raises("expected a function, got number", jobs.add, jobs, "name", 5)
    jobs:add(function() jobs:wait() end)
    local ok, failed = jobs:wait()
    assert.is_false(ok)
    assert.matches("called from one of its own jobs", failed[1].error)
  end)
end)
