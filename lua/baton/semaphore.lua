-- baton.semaphore: counting semaphores of n slots, each slot an exclusive flock lock.
-- Counting semaphores: at most n holders at once, across processes. Slot k is an exclusive
-- flock(2) lock on the file `path.k` (k = 1..n); a holder holds one slot, and the kernel
-- frees it the moment the holder's process ends, so no count can be left wrong by a crash
-- (see doc/semaphore.md). Waiting wakes when any slot file is closed.
local core = require "baton.core"
local options = require "baton.options"

local scoped = require "baton.scoped"
local engine = require "baton.lock"

local M = {}

M.MAX_SLOTS = core.SEM_MAX -- one descriptor per slot while waiting (src/core/semaphore.h)

-- The options beyond the wait's (lua/baton/options.lua).
local OPTIONS = { noun = "semaphores", options = { mode = true, mkdir = true } }

local WEAK = { __mode = "k" }

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
    _mkdir = o.mkdir ~= false,
    _free = {},                       -- slot objects holding nothing (below)
    _slots = setmetatable({}, WEAK),  -- every slot object of this semaphore
  }, Sem)
end

-- Each acquisition is a slot: a lock object of its own on lock.lua's engine, whose handle
-- takes whichever slot is free, acquired as baton.lock acquires a fresh object (protected
-- waits through lua/baton/wait.lua, errors); its one level is handed out as a guard. The
-- handle (a userdata) owns the slot: collecting a guard that was not released, and its
-- slot object, collects it and frees the slot. A slot object that holds nothing any more
-- waits in the semaphore's pool for its next acquisition (its _gen bumped, so that the
-- released guard stays released).
local Slot = { kind = "semaphore", _noun = "semaphore" }
Slot.__index = Slot
-- A slot is held by this process, whichever coroutine asks (any may give its guard back).
function Slot:is_locked()
  return self._n > 0 and self._h:held()
end

-- Back to the pool, once.
local function pool(l)
  if l._pooled then return end
  l._pooled = true
  local free = l._sem._free
  free[#free + 1] = l
end

function Slot:_drop()
  self._gen = self._gen + 1
  pool(self)
end

local function slot_of(self)
  local free = self._free
  local k = #free
  local l = free[k]
  if l then
    free[k] = nil
    l._pooled = false
    return l
  end
  l = setmetatable({ path = self.path, _sem = self, _n = 0, _gen = 0, _pooled = false,
    _h = core.semaphore(self.path, self.n, self._mode, self._mkdir) }, Slot)
  self._slots[l] = true
  return l
end

-- When every slot is held through this object in this process (coroutines sharing it), a
-- phrase saying so: a wait that nothing can interrupt would never end (wait.lua).
function Sem:_here()
  local held = 0
  for l in pairs(self._slots) do
    if l._n > 0 and l._h:held() then held = held + 1 end
  end
  if held >= self.n then
    return "this process, through this same semaphore object"
  end
end

function Slot:_here()
  return self._sem:_here()
end

-- What a failed acquisition says, asked before the handle lets go (and forgets which slot
-- file it passed over).
function Slot:_explain(msg, code)
  local sem = self._sem
  local bad, bad_code = self._h:unusable()
  if bad then bad = string.format("%s (%s)", (bad:gsub("^baton: ", "")), bad_code) end
  if code == "busy" and bad then
    return string.format("baton: no slot of semaphore '%s' is free: each is held or unusable; %s",
      sem.path, bad)
  elseif code == "busy" then
    local here = sem:_here()
    return string.format("baton: all %d slots of semaphore '%s' are held%s", sem.n, sem.path,
      here and (" (by " .. here .. ")") or "")
  elseif code == "timeout" and bad then
    return msg .. "; " .. bad
  end
  return msg
end

-- Take a slot: a guard, or raises (raise) / returns nil, message, code. Errors point at the
-- caller of acquire/try_acquire/with.
local function acquire(self, opts, fname, raise)
  local o = opts == nil and self._o or engine.options_of(self, opts, fname, 3)
  local l = slot_of(self)
  l._o, l.note = o, o.note
  local ok, msg, code = engine.acquire_new(l, raise, 3)
  if not ok then
    pool(l)
    return nil, msg, code
  end
  local slot, file = l._h:slot()
  return engine.guard({ slot = slot, path = file, semaphore = self, _l = l, _gen = l._gen }, Guard)
end

-- Take a slot, waiting as the options say; returns a guard, raises a string on failure.
function Sem:acquire(opts)
  local g = acquire(self, opts, "semaphore:acquire", true)
  return g
end

-- As acquire, but nil, message, code for contention, timeouts and system errors; one
-- attempt unless a timeout is given.
function Sem:try_acquire(opts)
  local g, msg, code = acquire(self, opts, "semaphore:try_acquire", false)
  return g, msg, code
end

-- Take a slot, call fn(...), give the slot back on every exit; re-raises fn's error.
function Sem:with(fn, ...)
  if not scoped.callable(fn) then
    error(string.format("semaphore:with: expected a function, got %s (semaphore '%s')",
      type(fn), self.path), 2)
  end
  local g = acquire(self, nil, "semaphore:with", true)
  return g:with(fn, ...)
end

function Sem:__tostring()
  return string.format("baton.semaphore('%s', %d slots)", self.path, self.n)
end

-- Give the slot back. Releasing twice is an error; leaving a `<close>` scope after a
-- release does nothing. :with(fn, ...) gives it back on every exit of fn. is_held() is true
-- while this process holds the guard's slot (false in a forked child).
engine.guard_class(Guard,
  function(g) return string.format("slot %d of semaphore '%s'", g.slot, g.semaphore.path) end,
  function(g) return string.format("semaphore '%s'", g.semaphore.path) end)

function Guard:__tostring()
  return string.format("baton.semaphore.guard('%s', slot %d, %s)", self.semaphore.path,
    self.slot, self:is_held() and "held" or "released")
end

return M
