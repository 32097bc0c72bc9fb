-- Waiting: prompt hand-offs without polling, cooperative pauses that yield, cancellation,
-- warnings, deadlines, and no spinning.
local baton = require "baton"
local wait = require "baton.wait"
local H = require "helpers"

-- A Lua process that holds `path` for `seconds`, then writes baton.now() to `stamp` just
-- before closing the lock file (CLOCK_MONOTONIC is shared by all processes).
local RELEASER = [[
local baton = require "baton"
local path, ready, stamp, seconds = arg[1], arg[2], arg[3], tonumber(arg[4])
local l = baton.lock(path)
local f = assert(io.open(ready, "w")); f:close()
baton.sleep(seconds)
local t = baton.now()
l:release()
f = assert(io.open(stamp .. ".tmp", "w")); f:write(string.format("%.9f", t)); f:close()
assert(os.rename(stamp .. ".tmp", stamp)) -- whole, or not there at all
]]

describe("waiting", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
  end)
  after_each(function()
    wait.MAX_PAUSE = 0.01
    H.cleanup()
  end)

  local function releaser(seconds)
    local ready, stamp = dir .. "/ready", dir .. "/stamp"
    os.remove(ready); os.remove(stamp)
    H.spawn(H.lua_cmd(H.script(RELEASER), path, ready, stamp, seconds))
    H.wait_file(ready)
    return function()
      H.wait_file(stamp)
      return tonumber(H.read(stamp))
    end
  end

  it("wakes on the holder's close, long before a polling interval would pass #linux", function()
    -- With pauses of up to 0.5 s between attempts, only a wake-up on the release itself
    -- can hand the lock over within 50 ms, round after round.
    wait.MAX_PAUSE = 0.5
    for _ = 1, 3 do
      local released_at = releaser(0.4)
      local l = baton.lock(path, { timeout = 5 })
      local got = baton.now()
      local lag = got - released_at()
      l:release()
      assert.is_true(lag < 0.05, "hand-off took " .. lag .. " s")
    end
  end)

  it("notices a holder that only unlocks, by attempts that back off to a bound", function()
    -- flock(1) -u on an inherited descriptor unlocks without closing the file
    local script = string.format("exec 9<>%s; flock -x 9; echo held > %s; sleep 0.3; flock -u 9; sleep 5",
      H.quote(path), H.quote(dir .. "/ready"))
    H.spawn("sh -c " .. H.quote(script))
    H.wait_file(dir .. "/ready")
    local t0 = baton.now()
    local l = baton.lock(path, { timeout = 3 })
    assert.is_true(baton.now() - t0 < 1)
    l:release()
  end)

  for _, how in ipairs({ "sleep", "poll" }) do
    -- A cooperative poll is called only with a descriptor to poll: the inotify watch.
    it("calls a cooperative " .. how .. ", whose yields are honoured"
      .. (how == "poll" and " #linux" or ""), function()
      H.lua_holder(path, 0.3)
      local pauses, fds, ticks = 0, {}, 0
      local opts = { timeout = 5 }
      if how == "sleep" then
        opts.sleep = function(...)
          local s = ...
          assert.equal(1, select("#", ...)) -- as ngx.sleep demands
          assert.is_true(s >= 0 and s <= 5)
          pauses = pauses + 1
          coroutine.yield(s)
        end
      else
        opts.poll = function(fd, s)
          assert.is_true(s >= 0 and s <= 5)
          pauses = pauses + 1
          fds[assert(fd)] = true
          coroutine.yield(s)
        end
      end
      local co = coroutine.create(function()
        return baton.lock(path, opts)
      end)
      local l
      while true do
        local ok, res = coroutine.resume(co)
        assert.is_true(ok, res)
        if coroutine.status(co) == "dead" then l = res break end
        ticks = ticks + 1 -- other work runs while the lock is awaited
        baton.sleep(res)
      end
      assert.is_true(l:is_locked())
      assert.is_true(pauses > 0 and ticks == pauses)
      if how == "poll" then assert.is_truthy(next(fds), "no descriptor was offered to the event loop") end
      l:release()
    end)
  end

  it("waits inside a libuv loop without blocking it, waking on the release #linux", function()
    local found, uv = pcall(require, "luv")
    if not found then return pending("needs lua-luv") end
    wait.MAX_PAUSE = 0.5
    local released_at = releaser(0.4)
    local ticks, got, lag = 0, nil, nil
    local ticker = uv.new_timer()
    ticker:start(10, 10, function() ticks = ticks + 1 end)
    require("baton.uv").lock(uv, path, { timeout = 5 }, function(l, msg)
      got = assert(l, msg)
      lag = baton.now() - released_at()
      ticker:stop()
      ticker:close()
    end)
    uv.run()
    assert.is_true(got:is_locked())
    got:release()
    assert.is_true(ticks >= 20, "the loop ran only " .. ticks .. " timer ticks")
    assert.is_true(lag < 0.05, "hand-off took " .. lag .. " s")
  end)

  it("ends a wait when cancel returns true", function()
    H.lua_holder(path, 10)
    local asked = 0
    local t0 = baton.now()
    local l, msg, code = baton.try_lock(path, { timeout = 5, cancel = function()
      asked = asked + 1
      return asked >= 3
    end })
    assert.is_nil(l)
    assert.equal("cancelled", code)
    assert.matches("cancelled", msg)
    assert.matches(path, msg, 1, true)
    assert.equal(3, asked)
    assert.is_true(baton.now() - t0 < 1)
    local ok, err = pcall(baton.lock, path, { cancel = function() return true end })
    assert.is_false(ok)
    assert.matches("cancelled", err)
  end)

  it("calls on_wait once after warn_after seconds", function()
    H.lua_holder(path, 0.6)
    local calls = {}
    local t0 = baton.now()
    local l = baton.lock(path, { timeout = 5, warn_after = 0.2, on_wait = function(info)
      calls[#calls + 1] = { info = info, at = baton.now() - t0 }
    end })
    l:release()
    assert.equal(1, #calls)
    assert.equal(path, calls[1].info.path)
    assert.is_true(calls[1].info.waited >= 0.2)
    assert.is_true(calls[1].at >= 0.2 and calls[1].at < 0.5)
  end)

  it("keeps the deadline when a cooperative sleep oversleeps or undersleeps", function()
    H.lua_holder(path, 10)
    for _, factor in ipairs({ 0, 3 }) do
      local t0 = baton.now()
      local l, _, code = baton.try_lock(path, { timeout = 0.3, sleep = function(s)
        baton.sleep(math.min(s * factor, 0.05))
      end })
      local took = baton.now() - t0
      assert.is_nil(l)
      assert.equal("timeout", code)
      assert.is_true(took >= 0.3 and took < 0.3 * 1.1 + 0.05, "took " .. took)
    end
  end)

  for _, opts in ipairs({ { timeout = 5 }, {} }) do
    local how = opts.timeout and "with a deadline" or "without a deadline"
    it("does not spin while waiting " .. how, function()
      H.lua_holder(path, 1.2)
      local c0 = os.clock()
      local l = baton.lock(path, opts)
      local cpu = os.clock() - c0
      l:release()
      -- far more than the real figure (see bench/), far less than a spinning loop's ~1 s
      assert.is_true(cpu < 0.1, "waiting used " .. cpu .. " s of CPU")
    end)
  end

end)
