-- Cooperative sleeps and descriptor waits: they yield inside baton.jobs, block elsewhere.
-- Waiting that cooperates with baton.jobs: inside a job, a sleep or a wait for a descriptor
-- yields to the scheduler so the other jobs run meanwhile; anywhere else it blocks in C (and
-- returns early when a signal arrives, so a host can stop the script).
local core = require "baton.core"

local now = core.now
local M = {}

-- The token a cooperative wait yields with, so a scheduler can tell it from a plain yield.
M.TAG = setmetatable({}, { __tostring = function() return "baton.coop" end })

-- coroutine -> the scheduler running it as a job
local owners = setmetatable({}, { __mode = "k" })
M.owners = owners -- read only, for the lock's fast path

function M.adopt(co, scheduler)
  owners[co] = scheduler
end

local isyieldable = coroutine.isyieldable

-- The scheduler whose job is running now, or nil (main thread, a foreign coroutine, or a
-- spot that cannot yield such as a metamethod on Lua 5.1).
function M.scheduler()
  local co = coroutine.running()
  local s = co and owners[co]
  if s and isyieldable and not isyieldable() then return nil end
  return s
end

local function check_seconds(fname, s)
  if type(s) ~= "number" or s ~= s then
    error(string.format("%s: seconds must be a number, got %s", fname,
      s ~= s and "NaN" or type(s)), 3)
  end
end

-- Pause for `s` seconds.
function M.sleep(s)
  check_seconds("baton.sleep", s)
  if M.scheduler() then
    coroutine.yield(M.TAG, now() + (s > 0 and s or 0))
  else
    core.sleep(s)
  end
end

-- Wait until a descriptor in `rfds` is readable or one in `wfds` writable (or hung up), or
-- `timeout` seconds pass (negative or nil: no limit). Returns { [fd] = true } for the ready
-- ones, or nil when the time ran out or a signal came first; callers re-check and loop.
function M.poll(rfds, wfds, timeout)
  if timeout == nil then timeout = -1 end
  if M.scheduler() then
    local deadline = timeout >= 0 and now() + timeout or math.huge
    return coroutine.yield(M.TAG, deadline, rfds, wfds)
  end
  return core.poll(rfds, wfds, timeout)
end

return M
