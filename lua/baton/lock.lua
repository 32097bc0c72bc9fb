-- The lock object: one interface over every kind of lock. A kind (lua/baton/kind/NAME.lua)
-- returns { open = function(path, opts) return handle end }, where the handle owns the system
-- resource (a userdata, so its __gc runs on every Lua version) and has
--   try() -> true | false, message, code     one attempt, never blocking
--   wait(seconds) -> woken                   a bounded pause that may end early on a release
--   held() -> boolean                        held by this process (not a forked child)
--   release()                                give everything back; idempotent; returns
--                                            nil, message, "lost" when a held lock was lost
-- and optionally block() (wait without a deadline), pollfd(), token() (the fencing token
-- while held) and lostfd() (readable once a held lock was lost).
-- This file adds reentrancy, options, errors and scoping on top.
local options = require "baton.options"
local wait = require "baton.wait"
local coop = require "baton.coop"

local byte, find = string.byte, string.find
local scoped = require "baton.scoped"
local EMPTY = options.EMPTY

local M = {}

local FLOCK = require "baton.kind.flock"
local kinds = { flock = FLOCK }

local function kind_named(name)
  local impl = kinds[name]
  if impl == nil and type(name) == "string" and name:match("^[%w_]+$") then
    local ok, mod = pcall(require, "baton.kind." .. name)
    impl = ok and mod or false
    kinds[name] = impl
  end
  return impl
end

-- Publish the holder's note and since-time for baton.holder, where the kind can.
local function record(h, note)
  local publish = h.record
  if publish then publish(h, note) end
end

local Lock = {}
Lock.__index = Lock
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
  if kname ~= nil or byte(path, 1) == 101 then -- 'e', as in etcd://
    kname = kname or (find(path, "^etcds?://") and "etcd") or "flock"
    impl = kind_named(kname)
    if not impl then options.misuse(level + 1, fname, path, "unknown lock kind '" .. kname .. "'") end
  end
  kname = kname or "flock"
  local o = options.check(opts, fname, path, level + 1, false, impl, true)
  return setmetatable({ path = path, kind = kname, note = o.note, _h = impl.open(path, o, fname), _n = 0,
    _o = o }, Lock)
end

local function check_open(self, fname)
  if self._closed then
    error(string.format("%s: lock '%s' is closed", fname, self.path), 3)
  end
end

-- The wait, and the count it sets, run under wait.protect: an error at any point leaves the
-- lock either held and counted or neither, never held by an object that says it is not.
local function attempt(self, o, timeout)
  local ok, msg, code = wait.acquire(self._h, self.path, o, timeout)
  if ok then self._n = 1 end
  return ok, msg, code
end

-- The fencing token of a kind that has one (etcd), else nil.
local function token_of(h)
  local f = h.token
  if f then return f(h) end
  return nil
end

-- Let go of the handle, the lock first and the count after: whatever comes between (a host's
-- interrupt), is_locked() asks the handle, so it never claims a lock that is gone. Returns
-- nothing, or nil, message, "lost" when the lock had been lost (an etcd lease).
local function let_go(self)
  local ok, msg, code = self._h:release()
  self._n = 0
  self.token = nil
  return ok, msg, code
end

-- Take the lock once more, or for the first time under options `o`, waiting up to `timeout`.
-- Returns true, or nil, message, code.
local function take(self, o, timeout)
  local n = self._n
  if n > 0 then
    if self._h:held() then
      self._n = n + 1
      return true
    end
    -- Inherited through fork(): the descriptor is the parent's lock, not ours. Let go of our
    -- copy (never unlocking it under the parent) and take the lock for real. (Or a lost
    -- etcd lock: take it again.)
    let_go(self)
  end
  local h = self._h
  if o == EMPTY and h.block and (timeout == nil or timeout < 0) and not coop.scheduler() then
    -- The kernel's queue, as wait.acquire would choose, without its protection: the count
    -- goes up first, so an error raised at any point (a host's interrupt) leaves a count
    -- that is_locked() checks against the handle and the next acquire retakes, never a
    -- held lock that the object does not count.
    self._n = 1
    local ok, msg, code
    repeat ok, msg, code = h:block() until ok or code ~= "busy"
    if not ok then
      let_go(self)
      return nil, msg, code
    end
    record(h, nil)
    return true
  end
  local ok, msg, code = wait.protect(let_go, self, attempt, self, o, timeout)
  if not ok then
    h:release()
    return nil, msg, code
  end
  record(h, o.note)
  self.token = token_of(h)
  return true
end

local function acquire_options(self, opts, fname)
  if opts == nil then return self._o end
  return options.merge(self._o, options.check(opts, fname, self.path, 3, true))
end

-- Acquire, waiting as the options say; raises a string naming the path on failure.
function Lock:acquire(opts)
  check_open(self, "lock:acquire")
  local o = acquire_options(self, opts, "lock:acquire")
  local ok, msg = take(self, o, o.timeout)
  if not ok then error(msg, 2) end
  return self
end

-- Acquire without raising for contention, timeouts or system errors: self, or nil, message,
-- code. Without a timeout it makes one attempt.
function Lock:try_acquire(opts)
  check_open(self, "lock:try_acquire")
  local o = acquire_options(self, opts, "lock:try_acquire")
  local ok, msg, code = take(self, o, o.timeout or 0)
  if not ok then return nil, msg, code end
  return self
end

-- What baton.lock (raise = true) and baton.try_lock do with a fresh object.
local function first_attempt(l, raise)
  local o, h = l._o, l._h
  local ok, msg, code
  if o == EMPTY and raise and h.block and not coop.scheduler() then
    -- baton.lock(path) with no options: the kernel's queue, as wait.acquire would choose
    repeat ok, msg, code = h:block() until ok or code ~= "busy"
  else
    local timeout = o.timeout
    if not raise and timeout == nil then timeout = 0 end
    ok, msg, code = wait.acquire(h, l.path, o, timeout)
  end
  if ok then l._n = 1 end
  return ok, msg, code
end

function M.acquire_new(l, raise)
  local o, h = l._o, l._h
  local ok, msg, code = wait.protect(let_go, l, first_attempt, l, raise)
  if ok then
    record(h, o.note)
    l.token = token_of(h)
    return l
  end
  h:release()
  if raise then error(msg, 3) end
  return nil, msg, code
end

-- Release one level, or every level with { force = true }. Returns true, or nil, message,
-- "lost" when the lock had been lost before this release (an etcd lease that expired).
function Lock:release(opts)
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
  if n == 1 then
    let_go(self)
  elseif n > 1 then
    self._n = n - 1
  end
end

function Lock:is_locked()
  return self._n > 0 and self._h:held()
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

function Lock:count()
  return self._n
end

-- Release every level and refuse further use. Idempotent.
function Lock:close()
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
  return scoped.run(function() self:__close() end, fn, ...)
end

function Lock:__tostring()
  local state = self._closed and "closed" or (self._n > 0 and ("held x" .. self._n) or "free")
  return string.format("baton.lock(%s '%s', %s)", self.kind, self.path, state)
end

M.EMPTY = EMPTY
return M
