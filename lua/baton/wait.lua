-- The attempt loop shared by every kind of lock. It is Lua on purpose: a `sleep` function
-- may yield (ngx.sleep, a coroutine scheduler), and LuaJIT cannot yield across a C call, so
-- C only ever makes one non-blocking attempt or one bounded wait.
local core = require "baton.core"
local coop = require "baton.coop"

local now = core.now
local M = {}

-- Pauses between attempts when nothing wakes the waiter earlier: short at first (most holds
-- are short), then backing off to a bound that keeps hand-offs from holders that only unlock
-- (no close for inotify to report) prompt, at a few hundred cheap wake-ups a second at most.
M.FIRST_PAUSE = 0.0005
M.MAX_PAUSE = 0.01

local function default_on_wait(info)
  local who = ""
  local h = info.holder
  if h and h.pid then who = " held by pid " .. tostring(h.pid) end
  io.stderr:write(string.format("baton: still waiting for lock '%s'%s after %.1f s\n",
    info.path, who, info.waited))
end

local function describe_holder(path)
  local ok, holder = pcall(require, "baton.holder")
  if ok and type(holder) == "table" and holder.holder then
    local fine, info = pcall(holder.holder, path)
    if fine then return info end
  end
end

-- Acquire `h` (a kind's handle: try/wait/release) for the lock at `path` under options `o`,
-- waiting up to `timeout` seconds (nil or negative: forever; 0: one attempt).
-- Returns true, or nil, message, code with code "busy", "timeout", "cancelled" or an errno name.
function M.acquire(h, path, o, timeout)
  local ok, msg, code = h:try()
  if ok then return true end
  if code ~= "busy" then return nil, msg, code end
  if timeout == 0 then
    return nil, "baton: lock '" .. path .. "' is held by another holder", "busy"
  end
  local start = now()
  local deadline = (timeout and timeout > 0) and start + timeout or math.huge
  local on_wait = o.on_wait
  if not on_wait and o.warn_after then on_wait = default_on_wait end
  local warn_at = on_wait and start + (o.warn_after or 0) or math.huge
  local sleep, cancel = o.sleep, o.cancel
  if not sleep and coop.scheduler() then sleep = coop.sleep end -- inside baton.jobs: yield
  local pause = M.FIRST_PAUSE
  while true do
    if cancel and cancel() then
      return nil, "baton: gave up waiting for lock '" .. path .. "': cancelled", "cancelled"
    end
    local t = now()
    if t >= deadline then
      return nil, string.format("baton: timed out after %.3g s waiting for lock '%s'", timeout, path),
        "timeout"
    end
    if t >= warn_at then
      warn_at = math.huge
      on_wait({ path = path, waited = t - start, holder = describe_holder(path) })
      t = now()
    end
    local step = math.min(pause, deadline - t, warn_at - t)
    if step < 0 then step = 0 end
    if sleep then sleep(step) else h:wait(step) end
    if pause < M.MAX_PAUSE then pause = math.min(pause * 2, M.MAX_PAUSE) end
    ok, msg, code = h:try()
    if ok then return true end
    if code ~= "busy" then return nil, msg, code end
  end
end

return M
