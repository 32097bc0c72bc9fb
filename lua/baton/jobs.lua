-- baton.jobs: a scheduler of coroutine jobs that wait for locks and processes side by side.
-- baton.jobs: run functions side by side as coroutines, at most `max` at once. A job that
-- waits (baton.sleep, a process, a pipe, a lock) yields to the others through baton.coop;
-- when every job waits, the scheduler sleeps in one poll on everything they wait for.
local core = require "baton.core"
local coop = require "baton.coop"

local now = core.now
local TAG = coop.TAG
local HUGE = math.huge
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- Lua 5.1 cannot yield across pcall; there the scheduler runs unprotected (no host signals
-- to unwind from there anyway).
local PCALL_YIELDS = _VERSION ~= "Lua 5.1" or type(jit) == "table"

local M = {}
local Jobs = {}
Jobs.__index = Jobs

local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- baton.jobs{ max = N } -> a job set. `max` (default: no limit) bounds how many run at once.
function M.new(opts)
  local max = HUGE
  if opts ~= nil then
    if type(opts) ~= "table" then error("baton.jobs: options must be a table, got " .. type(opts), 2) end
    for k, v in pairs(opts) do
      if k ~= "max" then error("baton.jobs: unknown option '" .. tostring(k) .. "'", 2) end
      if type(v) ~= "number" or v < 1 or (v ~= HUGE and v ~= math.floor(v)) then
        error("baton.jobs: option 'max' must be a positive integer, got " .. tostring(v), 2)
      end
      max = v
    end
  end
  return setmetatable({ max = max, list = {}, _next = 1, _run = {} }, Jobs)
end

-- jobs:add([name,] fn, ...) -> the job: a table with id, name and, once it is over, status
-- ("done" or "failed"), results (a packed table) or error and traceback. It starts on wait().
function Jobs:add(name, fn, ...)
  local args
  if type(name) == "string" then
    args = pack(...)
  else
    name, fn, args = nil, name, pack(fn, ...)
  end
  if not callable(fn) then error("jobs:add: expected a function, got " .. type(fn), 2) end
  local id = #self.list + 1
  local job = { id = id, name = name or ("job " .. id), status = "queued", _fn = fn, _args = args }
  self.list[id] = job
  return job
end

local function remove_running(self, job)
  for i, j in ipairs(self._run) do
    if j == job then
      table.remove(self._run, i)
      break
    end
  end
  job.finished = now()
  job._co, job._fn, job._args, job._r, job._w, job._resume = nil, nil, nil, nil, nil, nil
end

local function start_more(self)
  while #self._run < self.max and self._next <= #self.list do
    local job = self.list[self._next]
    self._next = self._next + 1
    local fn = job._fn
    local co = coroutine.create(type(fn) == "function" and fn or function(...) return fn(...) end)
    coop.adopt(co, self)
    job._co, job._ready, job._first, job._until = co, true, true, HUGE
    job.status, job.started = "running", now()
    self._run[#self._run + 1] = job
  end
end

local function resume(self, job)
  local r
  if job._first then
    job._first = false
    r = pack(coroutine.resume(job._co, unpack(job._args, 1, job._args.n)))
  else
    local v = job._resume
    job._resume = nil
    r = pack(coroutine.resume(job._co, v))
  end
  if not r[1] then
    job.status, job.ok, job.error = "failed", false, r[2]
    job.traceback = debug.traceback(job._co, tostring(r[2]))
    remove_running(self, job)
    -- The script is being stopped: that is no job's failure; stop them all.
    if core.interrupted() then error(r[2], 0) end
  elseif coroutine.status(job._co) == "dead" then
    job.status, job.ok, job.results = "done", true, pack(unpack(r, 2, r.n))
    remove_running(self, job)
  elseif r[2] == TAG then -- a cooperative wait: until r[3], or until r[4]/r[5] are ready
    job._ready, job._until, job._r, job._w = false, r[3], r[4], r[5]
  else -- a plain yield: run again in the next round
    job._ready = true
  end
end

local function ready_among(fds, ready)
  if fds then
    for _, fd in ipairs(fds) do
      if ready[fd] then return true end
    end
  end
  return false
end

-- Every running job waits: sleep until the first deadline or descriptor, in one poll.
local function block(self)
  local rfds, wfds, deadline = {}, {}, HUGE
  for _, job in ipairs(self._run) do
    if job._until < deadline then deadline = job._until end
    for _, fd in ipairs(job._r or {}) do rfds[#rfds + 1] = fd end
    for _, fd in ipairs(job._w or {}) do wfds[#wfds + 1] = fd end
  end
  if deadline == HUGE and #rfds == 0 and #wfds == 0 then
    error("baton.jobs: every job waits for nothing that can end", 0)
  end
  local ready = coop.poll(rfds, wfds, deadline == HUGE and -1 or math.max(0, deadline - now()))
  local t = now()
  for _, job in ipairs(self._run) do
    if t >= job._until then
      job._ready = true
    elseif ready and (ready_among(job._r, ready) or ready_among(job._w, ready)) then
      job._ready, job._resume = true, ready
    end
  end
end

local function loop(self)
  while true do
    start_more(self)
    if #self._run == 0 then return end
    local ran = false
    local round = { unpack(self._run) }
    for _, job in ipairs(round) do
      if job._ready and job.status == "running" then
        ran = true
        resume(self, job)
      end
    end
    if not ran then block(self) end
  end
end

-- Stop the jobs still running: close their coroutines so that their `<close>` variables
-- release what they hold (Lua 5.4).
local function abort(self)
  for _, job in ipairs(self._run) do
    job.status, job.ok, job.error = "cancelled", false, "cancelled"
    if coroutine.close and job._co then coroutine.close(job._co) end
  end
  self._run = {}
end

-- jobs:wait() -> true, {} when every job succeeded; false, failed (a list of the failed jobs,
-- each with name, error and traceback) otherwise. Runs the jobs added so far, and those that
-- jobs add meanwhile. An error in the scheduler itself, or a signal stopping the script,
-- cancels the jobs still running and is raised.
function Jobs:wait()
  if coop.scheduler() == self then error("jobs:wait: called from one of its own jobs", 2) end
  if self._waiting then error("jobs:wait: already waiting", 2) end
  self._waiting = true
  local ok, err = true, nil
  if PCALL_YIELDS then ok, err = pcall(loop, self) else loop(self) end
  self._waiting = false
  if not ok then
    abort(self)
    error(err, 0)
  end
  local failed = {}
  for _, job in ipairs(self.list) do
    if job.status == "failed" then failed[#failed + 1] = job end
  end
  return #failed == 0, failed
end

function Jobs:__tostring()
  return string.format("baton.jobs(%d jobs, %d running, max %s)", #self.list, #self._run,
    tostring(self.max))
end

return M
