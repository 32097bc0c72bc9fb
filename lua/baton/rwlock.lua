-- baton.rwlock: read/write lock objects whose read() and write() return guards.
-- Read/write locks on an SQLite database file: the same lock as Python filelock's
-- ReadWriteLock on the same file (see doc/rwlock.md). The C core makes single attempts;
-- this file adds modes, reentrancy, guards and the wait (lua/baton/wait.lua), so that a
-- `sleep` option can yield between attempts, for readers and writers alike.
local core = require "baton.core"
local options = require "baton.options"
local wait = require "baton.wait"

local rwkind = require "baton.kind.rw"

local engine = require "baton.lock"
local running = coroutine.running
local MAIN = engine.MAIN

local M = {}

local NOUN = "read/write lock" -- in messages

-- The options beyond the wait's (lua/baton/options.lua).
local OPTIONS = { noun = "read/write locks", options = { mode = true, mkdir = true,
  soft = rwkind.soft_options.soft, heartbeat = rwkind.soft_options.heartbeat },
  why = { shared = ", which take their mode from read() or write()" } }

local RW = {}
RW.__index = RW
M.RWLock = RW

local Guard = {}
M.Guard = Guard

-- A read/write lock object holding nothing yet. Misuse raises at `level` from the caller.
function M.new(path, opts, fname, level)
  options.check_path(path, fname, level + 1)
  local o = options.check(opts, fname, path, level + 1, false, OPTIONS)
  local h = rwkind.soft_handle(path, o, fname)
    or core.rwlock(path, options.mode(o, 438), o.mkdir ~= false)
  return setmetatable({
    path = path, note = o.note, _h = h, _o = o,
    _mode = false, -- "read" or "write" while levels are held
    _n = 0,        -- levels held, one per live guard
    _gen = 0,      -- bumped whenever every level goes at once, so stale guards do nothing
    _attempt = {
      read = rwkind.handle(h, false), -- one mode's attempts (lua/baton/kind/rw.lua)
      write = rwkind.handle(h, true),
    },
  }, RW)
end

-- Let go of every level (and, in a forked child, of the inherited connection).
local function drop_all(self)
  self._h:release() -- first: until the state below changes, it asks the handle
  local mode = self._mode
  if mode then
    -- struck off the connections holding a lock (lua/baton/kind/rw.lua); one left listed
    -- does no harm, as each listed one is asked whether it holds the lock
    local a = self._attempt[mode]
    local set = a.set
    if set then set[a.h] = nil end
  end
  self._n = 0
  self._mode = false
  self._co = false
  self._gen = self._gen + 1
end

-- Ownership is per coroutine, as for lock objects (lua/baton/lock.lua, whose gates waiting
-- coroutines attempt through): the levels an object holds belong to the coroutine that took
-- the first; another coroutine waits for them to go. Levels left by a coroutine that has
-- ended go to whichever coroutine uses the object next.
local ours, other_holds = engine.ours, engine.other_holds

local function gate_of(self, mode)
  local gates = self._gates
  if not gates then
    gates = {}
    self._gates = gates
  end
  local g = gates[mode]
  if not g then
    g = engine.gate(self, self._attempt[mode],
      "another coroutine of this process, through this same read/write lock object")
    gates[mode] = g
  end
  return g
end

-- What a failed or interrupted wait by coroutine `co` gives back: the levels if `co` holds
-- them, or a lock taken a moment before the error if nobody counts one; never the levels of
-- another coroutine.
local function abandon(self, co)
  if self._n == 0 or self._co == co then drop_all(self) end
end

-- Release one level; the last one ends the SQLite transaction.
local function drop_level(g)
  local rw = g.rw
  if g._gen == rw._gen then -- else every level already went (close, fork)
    if rw._n <= 1 then
      drop_all(rw)
    else
      rw._n = rw._n - 1
    end
  end
  g._live = false -- last: until here, is_held asks the handle
end

local function finalize(g)
  if g._live then drop_level(g) end
end

local new_guard
if newproxy then
  -- Lua 5.1 and LuaJIT run __gc for userdata only: a proxy carries the guard's.
  new_guard = function(rw, mode)
    local g = setmetatable({ rw = rw, mode = mode, _gen = rw._gen, _live = true }, Guard)
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = function() finalize(g) end
    g._proxy = proxy
    return g
  end
else
  new_guard = function(rw, mode)
    return setmetatable({ rw = rw, mode = mode, _gen = rw._gen, _live = true }, Guard)
  end
end

-- The wait, and the state it sets, under wait.protect: an error at any point (a callback's,
-- a host's interrupt) gives back a waiting writer's PENDING lock and anything just taken.
local function attempt(self, via, mode, o, timeout, co)
  local ok, msg, code = wait.acquire(via, self.path, o, timeout, self)
  if not ok then return nil, msg, code end
  if self._closed then
    -- closed from a callback of the wait
    self._h:release()
    return nil, engine.closed_waiting(self, NOUN)
  end
  self._mode, self._n, self._co = mode, 1, co
  return new_guard(self, mode)
end

local OTHER = { read = "write", write = "read" }
local HELD_FOR = { read = "writing", write = "reading" }
local CHANGE = { read = "downgrading", write = "upgrading" }

-- Take one level in `mode` ("read" or "write"). Returns a guard, or raises (raise) /
-- returns nil, message, code. Errors point at the caller of read/write/try_*.
local function acquire(self, mode, opts, fname, raise, default_timeout)
  if self._closed then engine.closed(self, fname, 3, NOUN) end
  local o = opts == nil and self._o or engine.options_of(self, opts, fname, 3)
  local co = running() or MAIN
  -- Every wait goes through the gate: another coroutine may hold the object's levels, or
  -- take them while this one waits (a wait that yields).
  local via = gate_of(self, mode)
  -- (while another coroutine holds it through this object, wait for it below)
  local n = self._n
  if n > 0 then
    local who = engine.reentry(self, co)
    if who == "ours" then
      if self._mode ~= mode then
        error(string.format("%s: read/write lock '%s' is held for %s by this object; %s to "
          .. "a %s lock is not allowed (release the %s lock first)", fname, self.path,
          HELD_FOR[mode], CHANGE[mode], mode, OTHER[mode]), 3)
      end
      self._n = n + 1
      return new_guard(self, mode)
    elseif who == "gone" then
      drop_all(self) -- inherited through fork(): the parent's lock, not ours
    end
  end
  local timeout = o.timeout
  if timeout == nil then timeout = default_timeout end
  local g, msg, code = wait.protect(abandon, self, attempt, self, via, mode, o, timeout, co)
  if not g then
    self._h:abandon() -- a waiting writer's PENDING lock
    if raise then error(msg, 3) end
    return nil, msg, code
  end
  return g
end

-- Shared (read) lock: waits as the options say, raises a string naming the path on failure.
function RW:read(opts)
  local g = acquire(self, "read", opts, "rwlock:read", true, nil)
  return g
end

-- Exclusive (write) lock: waits as the options say, raises on failure.
function RW:write(opts)
  local g = acquire(self, "write", opts, "rwlock:write", true, nil)
  return g
end

-- As read/write, but nil, message, code for contention, timeouts and system errors; one
-- attempt unless a timeout is given. Upgrading or downgrading still raises: it is misuse.
function RW:try_read(opts)
  local g, msg, code = acquire(self, "read", opts, "rwlock:try_read", false, 0)
  return g, msg, code
end

function RW:try_write(opts)
  local g, msg, code = acquire(self, "write", opts, "rwlock:try_write", false, 0)
  return g, msg, code
end

-- "read" or "write" while the calling coroutine holds the lock through this object, else nil.
function RW:mode()
  if self._n > 0 and ours(self) and self._h:held() then return self._mode end
  return nil
end

-- These answer for the calling coroutine, as mode() does.
function RW:is_locked()
  return self._n > 0 and ours(self) and self._h:held() and true or false
end

RW.count = engine.Lock.count

-- Release every level, close the SQLite connection and refuse further use. Idempotent.
-- Raises while another coroutine holds levels: closing would free the lock under it.
function RW:close()
  if other_holds(self) then engine.not_ours(self, "rwlock:close", 2, NOUN) end
  drop_all(self)
  self._h:close()
  self._closed = true
end

function RW:__tostring()
  local state = self._closed and "closed" or (self._n > 0 and (self._mode .. " x" .. self._n) or "free")
  return string.format("baton.rwlock('%s', %s)", self.path, state)
end

-- Release the level this guard took. Releasing a guard twice is an error; leaving a
-- `<close>` scope or collecting the guard after a release does nothing. :with(fn, ...) runs
-- fn and releases the guard on every exit, re-raising fn's error unchanged:
-- `rw:read():with(function() ... end)` is the scoped form for Lua without `<close>`.
engine.guard_class(Guard, finalize,
  function(g) return string.format("this %s guard on '%s'", g.mode, g.rw.path) end,
  function(g) return string.format("lock '%s'", g.rw.path) end)
Guard.__gc = finalize

-- True while this guard's level is held.
function Guard:is_held()
  return self._live and self._gen == self.rw._gen and self.rw:is_locked()
end

function Guard:__tostring()
  return string.format("baton.rwlock.guard(%s '%s', %s)", self.mode, self.rw.path,
    self:is_held() and "held" or "released")
end

return M
