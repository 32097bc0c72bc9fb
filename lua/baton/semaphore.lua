-- baton.semaphore: counting semaphores of n slots, each slot an exclusive flock lock.
-- Counting semaphores: at most n holders at once, across processes. Slot k is an exclusive
-- flock(2) lock on the file `path.k` (k = 1..n); a holder holds one slot, and the kernel
-- frees it the moment the holder's process ends, so no count can be left wrong by a crash
-- (see doc/semaphore.md). Waiting wakes when any slot file is closed.
local core = require "baton.core"
local options = require "baton.options"
local wait = require "baton.wait"

local scoped = require "baton.scoped"
local engine = require "baton.lock"

local M = {}

M.MAX_SLOTS = core.SEM_MAX -- one descriptor per slot while waiting (src/core/semaphore.h)

-- The options beyond the wait's (lua/baton/options.lua).
local OPTIONS = { noun = "semaphores", options = { mode = true, mkdir = true } }

local Sem = {}
Sem.__index = Sem
M.Semaphore = Sem

local Guard = {}
M.Guard = Guard

-- A semaphore object. Misuse raises at `level` counted from the caller.
function M.new(path, n, opts, fname, level)
  options.check_path(path, fname, level + 1)
  if type(n) ~= "number" or n ~= n or n < 1 or n > M.MAX_SLOTS or n % 1 ~= 0 then
    options.misuse(level + 1, fname, path, "the number of slots must be an integer from 1 to "
      .. M.MAX_SLOTS .. ", got " .. (type(n) == "number" and tostring(n)
        or type(n) == "string" and string.format("the string %q", n) or type(n)))
  end
  local o = options.check(opts, fname, path, level + 1, false, OPTIONS)
  return setmetatable({ path = path, n = n, note = o.note, _o = o, _mode = options.mode(o, 438),
    _mkdir = o.mkdir ~= false }, Sem)
end

-- The wait and the guard's making, under wait.protect: an error at any point (a callback's,
-- a host's interrupt) gives the slot back if it was taken.
local WEAK = { __mode = "k" }

local function attempt(self, h, o, timeout)
  local ok, msg, code = wait.acquire(h, self.path, o, timeout, self)
  if not ok then return nil, msg, code end
  local slot, file = h:slot()
  -- The handle (a userdata) owns the slot: collecting the guard collects it and frees the slot.
  local g = setmetatable({ slot = slot, path = file, semaphore = self, _h = h, _live = true }, Guard)
  local live = self._guards
  if not live then
    live = setmetatable({}, WEAK)
    self._guards = live
  end
  live[g] = true
  return g
end

-- When every slot is held by guards of this object in this process (coroutines sharing it),
-- a phrase saying so: a wait that nothing can interrupt would never end (wait.lua).
function Sem:_here()
  local held = 0
  for g in pairs(self._guards or {}) do
    if g._live and g._h:held() then held = held + 1 end
  end
  if held >= self.n then
    return "this process, through this same semaphore object"
  end
end

local function release_handle(h) h:release() end

local function acquire(self, opts, fname, raise, default_timeout)
  local o = opts == nil and self._o or engine.options_of(self, opts, fname, 3)
  local timeout = o.timeout
  if timeout == nil then timeout = default_timeout end
  local h = core.semaphore(self.path, self.n, self._mode, self._mkdir)
  local g, msg, code = wait.protect(release_handle, h, attempt, self, h, o, timeout)
  if not g then
    local bad, bad_code = h:unusable() -- a slot file passed over; asked before release forgets it
    h:release()
    if bad then bad = string.format("%s (%s)", (bad:gsub("^baton: ", "")), bad_code) end
    if code == "busy" and bad then
      msg = string.format("baton: no slot of semaphore '%s' is free: each is held or unusable; %s",
        self.path, bad)
    elseif code == "busy" then
      local here = self:_here()
      msg = string.format("baton: all %d slots of semaphore '%s' are held%s", self.n, self.path,
        here and (" (by " .. here .. ")") or "")
    elseif code == "timeout" and bad then
      msg = msg .. "; " .. bad
    end
    if raise then error(msg, 3) end
    return nil, msg, code
  end
  return g
end

-- Take a slot, waiting as the options say; returns a guard, raises a string on failure.
function Sem:acquire(opts)
  local g = acquire(self, opts, "semaphore:acquire", true, nil)
  return g
end

-- As acquire, but nil, message, code for contention, timeouts and system errors; one
-- attempt unless a timeout is given.
function Sem:try_acquire(opts)
  local g, msg, code = acquire(self, opts, "semaphore:try_acquire", false, 0)
  return g, msg, code
end

-- Take a slot, call fn(...), give the slot back on every exit; re-raises fn's error.
function Sem:with(fn, ...)
  if not scoped.callable(fn) then
    error(string.format("semaphore:with: expected a function, got %s (semaphore '%s')",
      type(fn), self.path), 2)
  end
  local g = acquire(self, nil, "semaphore:with", true, nil)
  return g:with(fn, ...)
end

function Sem:__tostring()
  return string.format("baton.semaphore('%s', %d slots)", self.path, self.n)
end

local function finalize(g)
  if g._live then
    g._h:release() -- first: until _live changes, is_held asks the handle
    g._live = false
    local live = g.semaphore._guards
    if live then live[g] = nil end
  end
end

-- Give the slot back. Releasing twice is an error; leaving a `<close>` scope after a
-- release does nothing. :with(fn, ...) gives it back on every exit of fn.
engine.guard_class(Guard, finalize,
  function(g) return string.format("slot %d of semaphore '%s'", g.slot, g.semaphore.path) end,
  function(g) return string.format("semaphore '%s'", g.semaphore.path) end)

-- True while this process holds the guard's slot (false in a forked child).
function Guard:is_held()
  return self._live and self._h:held()
end

function Guard:__tostring()
  return string.format("baton.semaphore.guard('%s', slot %d, %s)", self.semaphore.path,
    self.slot, self:is_held() and "held" or "released")
end

return M
