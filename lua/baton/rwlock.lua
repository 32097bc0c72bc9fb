-- baton.rwlock: read/write lock objects whose read() and write() return guards.
-- Read/write locks on an SQLite database file: the same lock as Python filelock's
-- ReadWriteLock on the same file (see doc/rwlock.md). The C core makes single attempts;
-- a read/write lock object is a lock object of lock.lua's engine with two modes (its
-- reentrancy, ownership per coroutine, protected waits through lua/baton/wait.lua, errors),
-- whose levels are handed out as guards; this file adds the modes and the guards' names.
local core = require "baton.core"
local options = require "baton.options"

local rwkind = require "baton.kind.rw"

local engine = require "baton.lock"
local running = coroutine.running
local MAIN = engine.MAIN
local take, guard, other_holds = engine.take, engine.guard, engine.other_holds

local M = {}

local NOUN = "read/write lock" -- in messages

-- The options beyond the wait's (lua/baton/options.lua).
local OPTIONS = { noun = "read/write locks", options = { mode = true, mkdir = true,
  soft = rwkind.soft_options.soft, heartbeat = rwkind.soft_options.heartbeat },
  why = { shared = ", which take their mode from read() or write()" } }

local RW = { _noun = NOUN, _simple = true } -- (lua/baton/lock.lua)
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

-- What the engine's let_go does beyond the handle's release for this class: strike the
-- connection off those holding a lock (lua/baton/kind/rw.lua; one left listed does no harm,
-- as each listed one is asked whether it holds the lock) and make every guard stale.
function RW:_drop()
  local mode = self._mode
  if mode then
    local a = self._attempt[mode]
    local set = a.set
    if set then set[a.h] = nil end
  end
  self._mode = false
  self._gen = self._gen + 1
end

local OTHER = { read = "write", write = "read" }
local HELD_FOR = { read = "writing", write = "reading" }
local CHANGE = { read = "downgrading", write = "upgrading" }

-- Take one level in `mode` ("read" or "write") through the engine. Returns a guard, or
-- raises (raise) / returns nil, message, code. Errors point at the caller of read/write/try_*.
local function acquire(self, mode, opts, fname, raise, default_timeout)
  if self._closed then engine.closed(self, fname, 3, NOUN) end
  local o = opts == nil and self._o or engine.options_of(self, opts, fname, 3)
  if self._n > 0 and self._mode ~= mode and engine.reentry(self, running() or MAIN) == "ours" then
    error(string.format("%s: read/write lock '%s' is held for %s by this object; %s to "
      .. "a %s lock is not allowed (release the %s lock first)", fname, self.path,
      HELD_FOR[mode], CHANGE[mode], mode, OTHER[mode]), 3)
  end
  local timeout = o.timeout
  if timeout == nil then timeout = default_timeout end
  local ok, msg, code = take(self, o, timeout, mode)
  if not ok then
    if raise then error(msg, 3) end
    return nil, msg, code
  end
  return guard({ rw = self, mode = mode, _l = self, _gen = self._gen }, Guard)
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
  if self:is_locked() then return self._mode end
  return nil
end

-- These are the engine's: they answer for the calling coroutine, as mode() does.
RW.is_locked = engine.Lock.is_locked
RW.count = engine.Lock.count

-- Release every level, close the SQLite connection and refuse further use. Idempotent.
-- Raises while another coroutine holds levels: closing would free the lock under it.
function RW:close()
  if other_holds(self) then engine.not_ours(self, "rwlock:close", 2, NOUN) end
  engine.let_go(self)
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
engine.guard_class(Guard,
  function(g) return string.format("this %s guard on '%s'", g.mode, g.rw.path) end,
  function(g) return string.format("lock '%s'", g.rw.path) end, true)

function Guard:__tostring()
  return string.format("baton.rwlock.guard(%s '%s', %s)", self.mode, self.rw.path,
    self:is_held() and "held" or "released")
end

return M
