-- The attempt loop every kind of lock waits in: attempts, pauses, deadlines, callbacks.
-- The attempt loop shared by every kind of lock. It is Lua on purpose: a `sleep` or `poll`
-- function may yield (ngx.sleep, a coroutine scheduler), and LuaJIT cannot yield across a C call, so
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
-- Linux reports a close to inotify a moment before it drops the closing file's lock, so a
-- waiter woken by a close may find the lock still held: it looks again very soon.
M.WOKEN_PAUSE = 0.00002
-- The shortest pause through ngx.sleep, nginx's timer resolution.
M.NGX_PAUSE = 0.001

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
-- Inside a baton.jobs job, pauses yield to the other jobs, which watch the descriptor too.
local function job_poll(fd, seconds)
  if fd then coop.poll({ fd }, nil, seconds) else coop.sleep(seconds) end
end

-- Lua 5.1's pcall cannot be yielded across; LuaJIT's and Lua 5.2+'s can.
local PCALL_YIELDS = _VERSION ~= "Lua 5.1" or type(jit) == "table"

-- Call fn(...) so that an error raised inside it (by a `sleep`, `poll`, `cancel` or
-- `on_wait` callback, or by a host's interrupt arriving between two instructions) first
-- calls cleanup(x), which gives back whatever the attempt holds (a waiting writer's place,
-- a lock taken a moment before the error), and then goes on unchanged. Without this, a
-- lock could stay held by an object that says it is not. On Lua 5.1 (not LuaJIT), whose
-- pcall cannot be yielded across, a wait inside a coroutine runs unprotected, as its
-- callbacks may yield.
function M.protect(cleanup, x, fn, ...)
  if not PCALL_YIELDS and coroutine.running() then return fn(...) end
  local ok, r1, r2, r3 = pcall(fn, ...)
  if ok then return r1, r2, r3 end
  cleanup(x)
  error(r1, 0)
end

-- The message of a wait that could never end: the holder is this very process, and
-- nothing here can yield to let it go on.
function M.never_msg(path, here)
  return string.format("baton: lock '%s' is held by %s; waiting for it here could never end "
    .. "(nothing can yield: give a timeout, or a `sleep` or `poll` option that yields, or "
    .. "wait inside baton.jobs)", path, here)
end

-- The kernel's own queue: wait in h:block(), woken exactly when the lock is ours. A signal
-- ends such a wait early; then it just goes on waiting. A handle's block() makes one attempt
-- first and fails at once ("EDEADLK") when this process already holds the lock through
-- another object (that wait could never end). Returns true, or nil, message, code.
function M.block(h, path)
  local ok, msg, code
  repeat ok, msg, code = h:block() until ok or code ~= "busy"
  if ok then return true end
  if code == "EDEADLK" then msg = M.never_msg(path, msg) end
  return nil, msg, code
end

-- Whether a wait of coroutine `co` for handle `h` under options `o` goes straight to the
-- kernel's queue, before any attempt: the one rule for every way in (lua/baton/lock.lua's
-- acquisitions; M.acquire's own choice after a first attempt is the same rule with the
-- options' callbacks looked at). Options that leave nothing to do while waiting and
-- nothing to record but the holder, no deadline, a handle that can block, and no
-- baton.jobs job whose wait should yield. (Asked every time: an options table may change
-- between acquisitions.)
local QUIET = { shared = true, mode = true, mkdir = true, kind = true }
local EMPTY = require("baton.options").EMPTY
local owners = coop.owners

local function quiet_options(o)
  if o == EMPTY then return true end
  for k in next, o do
    if not QUIET[k] then return false end
  end
  return true
end

function M.direct(h, o, timeout, co)
  return h.block ~= nil and (timeout == nil or timeout < 0) and owners[co] == nil
    and quiet_options(o)
end

-- M.direct for no options, no deadline and a handle that can block (baton.lock(path)'s
-- case, asked before the handle is opened), in short.
function M.direct_plain(co)
  return owners[co] == nil
end

-- What this process holds the lock through, when it is the holder (a phrase), else nil:
-- asked only once an attempt found the lock busy.
local function held_here(h, obj)
  local f = h.here
  local here = f and f(h)
  if here then return here end
  f = obj and obj._here
  return f and f(obj) or nil
end
M.held_here = held_here

local function closed_msg(path)
  return "baton: lock '" .. path .. "' was closed while waiting for it"
end

-- `obj`, the lock object waiting (optional), is consulted once the first attempt failed:
-- obj._closed ends the wait (closed from a callback), obj._here(obj) may name a holder in
-- this process that the handle cannot see.
function M.acquire(h, path, o, timeout, obj)
  local ok, msg, code = h:try()
  if ok then return true end
  if code ~= "busy" then return nil, msg, code end
  -- the lock is held: how to wait for it
  local sleep, poll, cancel, on_wait = o.sleep, o.poll, o.cancel, o.on_wait
  if not (sleep or poll) and coop.scheduler() then poll = job_poll end
  if not on_wait and o.warn_after then on_wait = default_on_wait end
  local forever = timeout == nil or timeout < 0 or timeout == math.huge
  local here = held_here(h, obj)
  if timeout == 0 then
    return nil, "baton: lock '" .. path .. "' is held by another holder" ..
      (here and (": " .. here) or ""), "busy"
  end
  if forever and not (sleep or poll or cancel) then
    -- a holder in this process that only a wait without an end needs to know of (another
    -- read/write lock object on the file: lua/baton/kind/rw.lua)
    local f = not here and h.never
    if f then here = f(h) end
    if here then return nil, M.never_msg(path, here), "EDEADLK" end
  end
  if forever and not (sleep or poll or cancel or on_wait) and h.block then
    -- nothing to do between attempts and no deadline
    return M.block(h, path)
  end
  local start = now()
  local deadline = forever and math.huge or start + timeout
  local warn_at = on_wait and start + (o.warn_after or 0) or math.huge
  local pollfd = h.pollfd
  local cooperative = sleep or poll
  if cooperative then
    -- Arm the handle's release watch now (wait(0) returns at once), then look once more,
    -- so that a release before the watch existed is not missed.
    h:wait(0)
    ok, msg, code = h:try()
    if ok then return true end
    if code ~= "busy" then return nil, msg, code end
  end
  local pause, woken = M.FIRST_PAUSE, false
  -- ngx.sleep counts whole milliseconds: a shorter pause is ngx.sleep(0), which nginx warns
  -- about on every call ("ngx.sleep(0) called without delayed events patch")
  local ngx = rawget(_G, "ngx")
  local min_step = sleep and type(ngx) == "table" and sleep == ngx.sleep and M.NGX_PAUSE or 0
  while true do
    if cancel and cancel() then
      return nil, "baton: gave up waiting for lock '" .. path .. "': cancelled", "cancelled"
    end
    local t = now()
    if t >= deadline then
      here = held_here(h, obj)
      return nil, string.format("baton: timed out after %.3g s waiting for lock '%s'%s", timeout,
        path, here and (" (held by " .. here .. ")") or ""), "timeout"
    end
    if t >= warn_at then
      warn_at = math.huge
      on_wait({ path = path, waited = t - start, holder = describe_holder(path) })
      t = now()
    end
    local step = math.min(woken and M.WOKEN_PAUSE or pause, deadline - t, warn_at - t)
    if step < min_step then step = min_step end
    if cooperative then
      if poll then
        -- An event loop watches the descriptor to resume at once on a release.
        poll(pollfd and pollfd(h) or nil, step)
      else
        sleep(step) -- exactly one argument: ngx.sleep refuses more
      end
      -- take the events the pause let pass, so the descriptor reads quiet again
      woken = h:wait(0)
    else
      woken = h:wait(step)
    end
    -- Woken by an event: one quick look (see WOKEN_PAUSE), then back to the usual pauses.
    if not woken and pause < M.MAX_PAUSE then pause = math.min(pause * 2, M.MAX_PAUSE) end
    if obj and obj._closed then return nil, closed_msg(path), "closed" end
    ok, msg, code = h:try()
    if ok then return true end
    if code ~= "busy" then return nil, msg, code end
  end
end

return M
