-- The lock-object engine: reentrancy, ownership per coroutine, waits and scopes, every kind.
-- The lock object: one interface over every kind of lock. A kind (lua/baton/kind/NAME.lua,
-- found through lua/baton/kind/init.lua) opens a handle that owns the system
-- resource (a userdata, so its __gc runs on every Lua version) and has
--   try() -> true | false, message, code     one attempt, never blocking
--   wait(seconds) -> woken                   a bounded pause that may end early on a release
--   held() -> boolean                        held by this process (not a forked child)
--   release()                                give everything back; idempotent; returns
--                                            nil, message, "lost" when a held lock was lost
-- and optionally block() (wait without a deadline), pollfd(), token() (the fencing token
-- while held), lostfd() (readable once a held lock was lost), here() (a phrase naming a
-- holder in this process), never() (the same, asked only for a wait without an end) and
-- abandon() (give up a place kept while waiting, after a wait that failed).
-- This file adds reentrancy, options, errors and scoping on top, for lock objects and for
-- the objects built on them: read/write locks (lua/baton/rwlock.lua, one object, a mode per
-- acquisition) and semaphore slots (lua/baton/semaphore.lua, an object per acquisition),
-- whose levels are handed out as guards (M.guard_class below).
local core = require "baton.core"
local options = require "baton.options"
local wait = require "baton.wait"

local find = string.find
local scoped = require "baton.scoped"
local EMPTY = options.EMPTY
local direct, queue = wait.direct, wait.block -- the kernel's queue: straight away?, wait there

local M = {}

local kinds = require "baton.kind"
local FLOCK = kinds.named("flock", "baton", "?", 1)

-- Publish the holder's note and since-time for baton.holder, where the kind can.
local function record(h, note)
  local publish = h.record
  if publish then publish(h, note) end
end

local Lock = {}
Lock.__index = Lock
Lock._noun = "lock" -- what messages call an object of the class
-- A class sets _simple when its handle has no block(), record() or token() (a read/write
-- lock's connection): take() then does not look for them.
M.Lock = Lock

-- A lock object, not yet acquired. Misuse is raised at `level` (counted from the caller).
function M.new(path, opts, fname, level)
  if type(path) ~= "string" then
    error(string.format("%s: the lock path must be a string, got %s", fname, type(path)), level + 1)
  end
  if path == "" then error(fname .. ": the lock path is empty", level + 1) end
  if find(path, "\0", 1, true) then
    error(string.format("%s: the lock path %q contains a NUL byte", fname, path), level + 1)
  end
  local impl, kname = FLOCK, options.kind_of(opts, fname, path, level + 1)
  if kname ~= nil or find(path, "://", 1, true) then impl = kinds.resolve(path, kname, fname, level + 1) end
  kname = impl.name
  local o = options.check(opts, fname, path, level + 1, false, impl, true)
  return setmetatable({ path = path, kind = kname, note = o.note, _h = impl.open(path, o, fname), _n = 0,
    _o = o }, Lock)
end

local running, status = coroutine.running, coroutine.status

-- Ownership is per coroutine: the owner of the levels an object holds is the coroutine that
-- took the first one (on Lua 5.1 and LuaJIT the main thread is coroutine.running() == nil,
-- so it is named by this sentinel).
local MAIN = setmetatable({}, { __tostring = function() return "main thread" end })
M.MAIN = MAIN

-- A coroutine that has ended while holding levels hands them to whichever coroutine uses
-- the object next: nothing else could ever release them.
local function ended(owner)
  return type(owner) == "thread" and status(owner) == "dead"
end

-- What every lock object (lock, read/write lock) says once closed: raises `fname: NOUN
-- 'path' is closed` at `level` counted from the caller; and what a wait ended by a close
-- from one of its callbacks returns.
function M.closed(self, fname, level, noun)
  error(string.format("%s: %s '%s' is closed", fname, noun or "lock", self.path), level + 1)
end

function M.closed_waiting(self, noun)
  return string.format("baton: %s '%s' was closed while waiting for it", noun or "lock",
    self.path), "closed"
end

local function check_open(self, fname)
  if self._closed then M.closed(self, fname, 3, self._noun) end
end

-- The fencing token of a kind that has one (etcd), else nil.
local function token_of(h)
  local f = h.token
  if f then return f(h) end
  return nil
end

-- Let go of the handle, the lock first and the count after: whatever comes between (a host's
-- interrupt), is_locked() asks the handle, so it never claims a lock that is gone. Returns
-- nothing, or nil, message, "lost" when the lock had been lost (an etcd lease). A class
-- whose levels are guards (a read/write lock) forgets them in its _drop.
local function let_go(self)
  local ok, msg, code = self._h:release()
  self._n = 0
  self._co = false
  self.token = nil
  local drop = self._drop
  if drop then drop(self) end
  return ok, msg, code
end
M.let_go = let_go

-- What a failed or interrupted wait by coroutine `co` gives back: the lock if `co` counted
-- it, or the handle's waiting state (and a lock taken a moment before the error) if nobody
-- counts it; never the levels another coroutine holds through this object.
local function abandon(self, co)
  if self._n == 0 then
    self._h:release()
  elseif self._co == co then
    let_go(self)
  end
end

-- The wait, and the count it sets, run under wait.protect: an error at any point leaves the
-- lock either held and counted or neither, never held by an object that says it is not.
local function attempt(self, a, o, timeout, co, mode)
  local ok, msg, code = wait.acquire(a, self.path, o, timeout, self)
  if ok then
    self._n, self._co, self._mode = 1, co, mode
  end
  return ok, msg, code
end

-- Ownership, for every object with levels (_n, owned by coroutine _co, on handle _h): lock
-- objects, read/write lock objects (lua/baton/rwlock.lua), semaphore slots.
local function other_holds(l)
  local owner = l._co
  return l._n > 0 and owner ~= (running() or MAIN) and not ended(owner) and l._h:held()
end

local function ours(l)
  local owner = l._co
  return owner == (running() or MAIN) or ended(owner)
end
M.ended, M.ours, M.other_holds = ended, ours, other_holds

-- Who may take one more level of an object holding some (_n > 0), for coroutine `co`:
-- "ours" (co owns them, adopted from a coroutine that has ended), "other" (another live
-- coroutine holds them through this object: wait for them), or "gone" (the handle no longer
-- holds the lock: inherited through fork(), or lost; let go and take it for real).
local function reentry(l, co)
  local owner = l._co
  if owner ~= co and ended(owner) then owner = co; l._co = co end
  if not l._h:held() then return "gone" end
  if owner == co then return "ours" end
  return "other"
end
M.reentry = reentry

-- Raise `fname: NOUN 'path' is held by another coroutine, not by this one` at `level`
-- counted from the caller.
local function not_ours(self, fname, level, noun)
  error(string.format("%s: %s '%s' is held by another coroutine, not by this one", fname,
    noun or "lock", self.path), level + 1)
end
M.not_ours = not_ours

-- A waiting coroutine attempts through a gate: busy while another coroutine holds the
-- object's levels, else the attempts `a` (the object's handle, or one mode of it).
local Gate = {}
Gate.__index = Gate

function Gate:try()
  if other_holds(self.l) then return false, nil, "busy" end
  return self.a:try()
end

function Gate:wait(seconds)
  if other_holds(self.l) then
    if seconds > 0 then core.sleep(seconds) end
    return false
  end
  return self.a:wait(seconds)
end

-- The attempts' optional method `name`, asked only while no other coroutine holds the object.
local function ask(g, name)
  local a = g.a
  local f = a[name]
  if f == nil or other_holds(g.l) then return nil end
  return f(a)
end

function Gate:pollfd()
  return ask(self, "pollfd")
end

function Gate:here()
  if other_holds(self.l) then return self.phrase end
  local a = self.a
  local f = a.here
  return f and f(a) or nil
end

function Gate:never()
  return ask(self, "never")
end

-- The kernel's queue, for wait.acquire's waits without a deadline or anything to do
-- meanwhile: nothing can yield there, so no other coroutine can take the lock meanwhile
-- (and wait.acquire has already failed the wait if one holds it).
local function gate_block(self)
  return self.a:block()
end

-- A gate for object `l` attempting through `a`; `phrase` names the holder while another
-- coroutine holds `l`.
local function gate(l, a, phrase)
  return setmetatable({ l = l, a = a, phrase = phrase, block = a.block and gate_block or nil },
    Gate)
end

-- A holder in this process that the handle cannot see, where the kind can tell (a soft
-- lock held through another object). Asked by wait.acquire only once an attempt found the
-- lock busy.
function Lock:_here()
  local k = kinds.find(self.kind)
  local f = k and k.here
  return f and f(self.path) or nil
end

-- self[field][key], made by make(self, key) the first time it is asked for.
local function memo(self, field, key, make)
  local t = self[field]
  if not t then
    t = {}
    self[field] = t
  end
  local v = t[key]
  if not v then
    v = make(self, key)
    t[key] = v
  end
  return v
end

-- The gate coroutines of this process wait through for object `self`, in mode `key` (a
-- read/write lock's "read" or "write", attempting through self._attempt[key]; 1: the
-- object's handle), kept in self._gates.
local function new_gate(self, key)
  return gate(self, key == 1 and self._h or self._attempt[key], "another coroutine of this "
    .. "process, through this same " .. self._noun .. " object")
end

-- The kernel's queue (wait.block, chosen by wait.direct), for a wait with no options and no
-- deadline where nothing can yield. A flock handle's block() publishes the holder record
-- itself; other kinds' records are published here.
local function block(h, path)
  local ok, msg, code = queue(h, path)
  if ok and h.here == nil then record(h, nil) end
  return ok, msg, code
end

-- Take the lock once more, or for the first time under options `o`, waiting up to `timeout`,
-- in `mode` for an object with modes (a read/write lock: its caller has refused a change of
-- mode already). Returns true, or nil, message, code.
local function take(self, o, timeout, mode)
  local n, co = self._n, running() or MAIN
  local h = self._h
  local other = false
  if n > 0 then
    local who = reentry(self, co)
    if who == "gone" then
      -- Inherited through fork(): the descriptor is the parent's lock, not ours. Let go of
      -- our copy (never unlocking it under the parent) and take the lock for real. (Or a
      -- lost etcd lock: take it again.)
      let_go(self)
    elseif who == "ours" then
      self._n = n + 1
      return true
    else
      other = true -- another coroutine holds it through this object
    end
  end
  local simple = self._simple
  if not other and not simple and direct(h, o, timeout, co) then
    -- The kernel's queue, as wait.acquire would choose, without its protection: the count
    -- goes up first, so an error raised at any point (a host's interrupt) leaves a count
    -- that is_locked() checks against the handle and the next acquire retakes, never a
    -- held lock that the object does not count.
    self._n, self._co = 1, co
    local ok, msg, code = block(h, self.path)
    if not ok then
      let_go(self)
      return nil, msg, code
    end
    self.token = token_of(h)
    return true
  end
  -- Every other wait goes through the gate, as another coroutine may take the lock through
  -- this object while this one waits (a wait that yields, or a callback that resumes one).
  local ok, msg, code = wait.protect(abandon, self, attempt, self,
    memo(self, "_gates", mode or 1, new_gate), o, timeout, co, mode)
  if not ok then
    if self._n == 0 then h:release() end -- a wait's state, never another coroutine's lock
    local f = h.abandon
    if f then f(h) end -- a place kept while waiting (a writer's)
    return nil, msg, code
  end
  if self._closed then
    -- closed from a callback of the wait (a `sleep`, `cancel` or `on_wait` function)
    let_go(self)
    return nil, M.closed_waiting(self, self._noun)
  end
  if not simple then
    record(h, o.note)
    self.token = token_of(h)
  end
  return true
end
M.take = take

-- The options of one acquisition of lock object `self` (lock, read/write lock, semaphore):
-- its own with `opts` on top, checked; misuse raises at `level` counted from the caller.
function M.options_of(self, opts, fname, level)
  if opts == nil then return self._o end
  return options.merge(self._o, options.check(opts, fname, self.path, level + 1, true))
end
local options_of = M.options_of

local function acquire_options(self, opts, fname)
  if opts == nil then return self._o end
  return options_of(self, opts, fname, 3)
end

-- Each level after the first is handed out as a guard of its own, so that leaving a
-- `<close>` scope gives back exactly the level that scope took, and nothing when that
-- level was already released by hand. A guard stands for its lock: every method and field
-- of the lock works on it, and it compares equal to the lock. One guard per depth, made
-- once and reused.
local Level = {}
local level_methods = {}
M.Level = Level

local function unwrap(x)
  return rawget(x, "_l") or x
end

local function same(a, b)
  return rawequal(unwrap(a), unwrap(b))
end
Lock.__eq = same
Level.__eq = same

function Level.__index(g, k)
  local f = level_methods[k]
  if f ~= nil then return f end
  local m = Lock[k]
  if type(m) == "function" then
    f = function(self, ...) return m(self._l, ...) end
    level_methods[k] = f
    return f
  end
  return g._l[k]
end

function Level.__newindex(g, k, v)
  g._l[k] = v
end

function Level:__tostring()
  return tostring(self._l)
end

-- Give back level k of `self` if it is still held by the calling coroutine (the first level
-- is the lock object's own).
local function close_level(self, k)
  local n = self._n
  if n < k or n == 0 then return end
  local owner = self._co
  if owner ~= (running() or MAIN) and not ended(owner) then return end -- not this coroutine's
  if n == 1 then
    let_go(self)
  else
    self._n = n - 1
  end
end

function Level:__close()
  close_level(self._l, self._k)
end

local function new_level(self, k)
  return setmetatable({ _l = self, _k = k }, Level)
end

local function level_guard(self)
  local k = self._n
  if k <= 1 then return self end
  return memo(self, "_g", k, new_level)
end

-- Acquire, waiting as the options say; raises a string naming the path on failure.
function Lock:acquire(opts)
  if opts == nil and self._n == 0 and not self._closed then
    -- the common case in short: a lock that publishes its own holder record (flock), taken
    -- in the kernel's queue as take() would, counted first
    local h, co = self._h, running() or MAIN
    if h.here and direct(h, self._o, nil, co) then
      self._n, self._co = 1, co
      local ok = h:block()
      if ok then return self end
      self._n, self._co = 0, false
    end
  end
  check_open(self, "lock:acquire")
  local o = acquire_options(self, opts, "lock:acquire")
  local ok, msg = take(self, o, o.timeout)
  if not ok then error(msg, 2) end
  if self._n == 1 then return self end
  return level_guard(self)
end

-- Acquire without raising for contention, timeouts or system errors: self, or nil, message,
-- code. Without a timeout it makes one attempt.
function Lock:try_acquire(opts)
  check_open(self, "lock:try_acquire")
  local o = acquire_options(self, opts, "lock:try_acquire")
  local ok, msg, code = take(self, o, o.timeout or 0)
  if not ok then return nil, msg, code end
  if self._n == 1 then return self end
  return level_guard(self)
end

-- What baton.lock (raise = true) and baton.try_lock do with a fresh object.
local function first_attempt(l, raise, co)
  local o, h = l._o, l._h
  local timeout = o.timeout
  if not raise and timeout == nil then timeout = 0 end
  local ok, msg, code = wait.acquire(h, l.path, o, timeout, l)
  if ok then l._n, l._co = 1, co end
  return ok, msg, code
end

-- The first acquisition of a fresh object `l`: returns l, or raises (raise) at `level`
-- counted from the caller / returns nil, message, code. A class may explain a failure
-- better from the handle's state before the handle lets go (l:_explain(msg, code)).
function M.acquire_new(l, raise, level)
  local o, h = l._o, l._h
  local co = running() or MAIN
  if raise and direct(h, o, o.timeout, co) then
    -- the kernel's queue, counted first as in take()
    l._n, l._co = 1, co
    local ok, msg = block(h, l.path)
    if not ok then
      let_go(l)
      error(msg, level + 1)
    end
    l.token = token_of(h)
    return l
  end
  local ok, msg, code = wait.protect(let_go, l, first_attempt, l, raise, co)
  if ok and not l._closed then
    record(h, o.note)
    l.token = token_of(h)
    return l
  end
  if ok then
    let_go(l)
    msg, code = M.closed_waiting(l, l._noun)
  end
  local explain = l._explain
  if explain then msg = explain(l, msg, code) end
  h:release()
  if raise then error(msg, level + 1) end
  return nil, msg, code
end

-- baton.lock(path) without options, the most common call, in one step: an exclusive flock
-- lock taken in the kernel's queue when wait.direct_plain says so (outside baton.jobs). Any
-- other case goes through M.new and M.acquire_new.
local flock_plain = core.flock_plain
local direct_plain = wait.direct_plain
Lock.kind = "flock" -- the default, so that the object below needs no field for it
Lock._o = EMPTY

-- baton.lock(path [, opts]).
function M.lock(path, opts)
  local co = running() or MAIN
  -- (a path with a scheme may belong to another kind: the general way asks the registry)
  local h = opts == nil and type(path) == "string" and not find(path, "://", 1, true)
    and direct_plain(co) and flock_plain(path)
  if h then
    -- protected: nobody else could give back a lock taken just before an error (a host's
    -- interrupt) strikes
    local fine, ok, msg = pcall(queue, h, path)
    if fine and ok then
      return setmetatable({ path = path, _h = h, _n = 1, _co = co }, Lock)
    end
    h:release()
    if not fine then error(ok, 0) end
    error(msg, 2)
  end
  local l = M.acquire_new(M.new(path, opts, "baton.lock", 2), true, 2)
  return l
end

-- Release one level, or every level with { force = true }, of the calling coroutine.
-- Returns true, or nil, message, "lost" when the lock had been lost before this release
-- (an etcd lease that expired). Raises when this coroutine holds no level of it.
function Lock:release(opts)
  if opts == nil and self._n == 1 and self._co == (running() or MAIN) then
    local _, msg, code = let_go(self)
    if msg then return nil, msg, code end
    return true
  end
  local force = false
  if opts ~= nil then
    if type(opts) ~= "table" then
      options.misuse(2, "lock:release", self.path, "options must be a table, got " .. type(opts))
    end
    for k, v in pairs(opts) do
      if k ~= "force" then
        options.misuse(2, "lock:release", self.path, "unknown option '" .. tostring(k) .. "'")
      end
      force = v and true or false
    end
  end
  check_open(self, "lock:release")
  local n = self._n
  if n == 0 then error(string.format("lock:release: lock '%s' is not held", self.path), 2) end
  local owner = self._co
  if owner ~= (running() or MAIN) and not ended(owner) then not_ours(self, "lock:release", 2) end
  if force or n == 1 then
    local _, msg, code = let_go(self)
    if msg then return nil, msg, code end
  else
    self._n = n - 1
  end
  return true
end

-- Leaving a `<close>` scope releases the level that scope took. A lock released by hand
-- inside the scope is left alone: raising from __close would hide the scope's own error.
function Lock:__close()
  local n = self._n
  if n == 1 and self._co == (running() or MAIN) then
    self._h:release() -- let_go, inline
    self._n, self._co, self.token = 0, false, nil
    return
  end
  close_level(self, 1)
end

-- Held by the calling coroutine (another coroutine's levels through this object do not
-- count; those of a coroutine that has ended do).
function Lock:is_locked()
  if self._n == 0 then return false end
  local owner = self._co
  return (owner == (running() or MAIN) or ended(owner)) and self._h:held() and true or false
end

-- A descriptor that becomes readable when the lock may have been released, while this
-- object waits for it with a `sleep` option (nil when the kind has none or nothing waits).
function Lock:pollfd()
  local f = self._h.pollfd
  return f and f(self._h) or nil
end

-- A descriptor that becomes readable when a held lock is lost (etcd), or nil.
function Lock:lostfd()
  local f = self._h.lostfd
  return f and f(self._h) or nil
end

-- The levels the calling coroutine holds (0 while another coroutine holds the object).
function Lock:count()
  local n = self._n
  if n > 0 and self._co ~= (running() or MAIN) and not ended(self._co) then return 0 end
  return n
end

-- Release every level and refuse further use. Idempotent. Raises while another coroutine
-- holds the object: closing would free the lock under it.
function Lock:close()
  local owner = self._co
  if self._n > 0 and owner ~= (running() or MAIN) and not ended(owner) and self._h:held() then
    not_ours(self, "lock:close", 2)
  end
  let_go(self)
  self._closed = true
end

-- Run fn(...) holding the lock and release on every exit, re-raising fn's error unchanged:
-- the scoped form for Lua versions without to-be-closed variables.
function Lock:with(fn, ...)
  if not scoped.callable(fn) then
    error(string.format("lock:with: expected a function, got %s (lock '%s')", type(fn), self.path), 2)
  end
  check_open(self, "lock:with")
  local ok, msg = take(self, self._o, self._o.timeout)
  if not ok then error(msg, 2) end
  local k = self._n
  return scoped.run(function() close_level(self, k) end, fn, ...)
end


function Lock:__tostring()
  local state = self._closed and "closed" or (self._n > 0 and ("held x" .. self._n) or "free")
  return string.format("baton.lock(%s '%s', %s)", self.kind, self.path, state)
end

-- Guards: one level of a lock object handed out as an object of its own, which gives back
-- exactly that level, once, whatever the order: what rwlock:read()/write() return (a level
-- of the read/write lock object) and semaphore:acquire() returns (the one level of a slot,
-- a lock object of its own). A guard is { _l = the object, _gen = the object's _gen when
-- the level was taken, ... }, its _l nil once it has given the level back (a semaphore's
-- slot object then goes back to its pool: the guard keeps it no longer). An object bumps
-- _gen whenever every level goes at once (let_go through its _drop: close, fork), so that
-- older guards then do nothing.

-- Give back the level guard `g` stands for, if it still does.
-- Returns what let_go says when this was the last level (nil, message, "lost": lost).
local function give_back(g)
  local l = g._l
  if l == nil then return end
  local ok, msg, code
  if g._gen == l._gen then -- else every level already went
    local n = l._n
    if n <= 1 then
      ok, msg, code = let_go(l)
    else
      l._n = n - 1
    end
  end
  g._l = nil -- last: until here, is_held asks the object
  return ok, msg, code
end

-- Make class `G` a guard class: release() (once: a second is an error naming
-- `released(g)`), `<close>`, :with(fn, ...), is_held() and, with `collect`, a release when
-- the guard is garbage-collected (the object's handle, a userdata, does that for objects
-- that are collected with their guard).
function M.guard_class(G, released, where, collect)
  G.__index = G
  function G:release()
    if self._l == nil then
      error(string.format("guard:release: %s was already released", released(self)), 2)
    end
    local _, msg, code = give_back(self)
    if msg then return nil, msg, code end
  end
  G.__close = give_back
  function G:with(fn, ...)
    if not scoped.callable(fn) then
      give_back(self)
      error(string.format("guard:with: expected a function, got %s (%s)", type(fn), where(self)), 2)
    end
    return scoped.run(function() give_back(self) end, fn, ...)
  end
  -- True while this guard's level is held by the calling coroutine.
  function G:is_held()
    local l = self._l
    return l ~= nil and self._gen == l._gen and l:is_locked()
  end
  if collect then
    G.__gc = give_back
    G._collect = newproxy ~= nil -- Lua 5.1 and LuaJIT run __gc for userdata only
  end
  return G
end

-- Guard table `g` (see above) as an object of guard class `G`.
function M.guard(g, G)
  setmetatable(g, G)
  if G._collect then
    -- a proxy carries the guard's __gc
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = function() give_back(g) end
    g._proxy = proxy
  end
  return g
end

-- The on_lost delivery of a kind whose handles can lose a lock while holding it (etcd locks,
-- soft leases): a handle h around a C handle h._c, whose lost() says message, reason once a
-- held lock is lost, with h._on_lost, the callback of option on_lost. It runs once per loss,
-- with event(h, message, reason) (the kind's fields), at the next check (any call into a
-- handle of the kind) or at the handle's release. A callback's error propagates.
function M.loss_watch(event)
  -- handles that hold a lock whose loss was not reported yet (weak: a collected handle is
  -- released by its __gc and has nobody left to tell)
  local holding = setmetatable({}, { __mode = "k" })
  local W = {}

  -- Tell the handle's owner, once, that its lock was lost.
  local function report(h, msg, reason)
    holding[h] = nil
    if h._told then return end
    h._told = true
    if h._on_lost then h._on_lost(event(h, msg, reason)) end
  end

  -- Run the callbacks that are due, for every handle of the kind this Lua state holds.
  function W.check()
    local lost
    for h in pairs(holding) do
      local msg, reason = h._c:lost()
      if msg then
        lost = lost or {}
        lost[#lost + 1] = { h, msg, reason }
      end
    end
    if lost then
      for _, e in ipairs(lost) do report(e[1], e[2], e[3]) end
    end
  end

  -- One attempt of h's C handle, after the check: what its try() returns.
  function W.try(h)
    W.check()
    local ok, msg, code = h._c:try()
    if ok then
      h._told = false
      holding[h] = true
    end
    return ok, msg, code
  end

  -- Whether h held a lock (or had one lost) since its last release: ask before the release.
  function W.was_held(h) return holding[h] ~= nil or h._told end

  -- After h's release: nothing, or nil, message, "lost" when the lock had been lost while
  -- held (`msg`, `reason` from lost(), `was_held` from W.was_held); the callback runs first
  -- if it has not yet.
  function W.released(h, was_held, msg, reason)
    holding[h] = nil
    if msg and was_held then
      report(h, msg, reason)
      return nil, msg, "lost"
    end
  end
  return W
end

M.EMPTY = EMPTY
return M
