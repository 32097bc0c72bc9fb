-- baton: cross-process locks. This file is the public face; see README.md for the contract.
local core = require "baton.core"
local lock = require "baton.lock"
local coop = require "baton.coop"
local process = require "baton.process"
local jobs = require "baton.jobs"
local options = require "baton.options"

local M = {
  _VERSION = "baton 0.1.0",
  now = core.now,
  sleep = coop.sleep, -- yields to the other jobs inside baton.jobs
  spawn = process.spawn,
  run = process.run,
  jobs = jobs.new,
}

-- A lock object, not yet acquired: reusable and reentrant.
function M.new(path, opts)
  local l = lock.new(path, opts, "baton.new", 2)
  return l -- not a tail call, so errors point at the caller
end

-- Acquire a lock, waiting as `opts` says; raises a string on timeout or failure.
M.lock = lock.lock

-- Acquire without raising for contention, timeouts or system errors: lock, or nil, msg, code.
function M.try_lock(path, opts)
  local l, msg, code = lock.acquire_new(lock.new(path, opts, "baton.try_lock", 2), false, 2)
  return l, msg, code
end

-- A lock on a file the program already has open: an io library file handle or a descriptor
-- number, which stays the caller's (never closed here; a handle is kept open as long as the
-- lock object lives). flock(2) by default, the lock of flock(1)'s descriptor form and of
-- Python filelock's lock_descriptor; OFD byte ranges with api = "fcntl", start and length.
local function lock_file(file, opts, fname, raise)
  local fd
  if type(file) == "number" then
    if file ~= math.floor(file) or file < 0 or file > 0x7fffffff then
      error(string.format("%s: %s is not a descriptor number", fname, tostring(file)), 3)
    end
    fd = file
  elseif io.type(file) == "file" then
    fd = core.fileno(file)
  elseif io.type(file) == "closed file" then
    error(fname .. ": the file handle is closed", 3)
  else
    error(string.format("%s: expected a file handle or a descriptor number, got %s", fname,
      type(file)), 3)
  end
  local kind = require("baton.kind").named("flock", fname, "fd", 2)
  local name = "fd " .. string.format("%d", fd)
  local o = options.check(opts, fname, name, 3, false, kind, false)
  local h, msg, code = kind.open_fd(name, file, o)
  if not h then
    msg = string.format("baton: cannot lock %s: %s", name, (msg:gsub("^[^:]*: ", "")))
    if raise then error(msg, 3) end
    return nil, msg, code
  end
  local l = setmetatable({ path = name, kind = "flock", note = o.note, _h = h, _n = 0, _o = o },
    lock.Lock)
  local got
  got, msg, code = lock.acquire_new(l, raise, 3)
  return got, msg, code
end

function M.lock_file(file, opts)
  local l = lock_file(file, opts, "baton.lock_file", true)
  return l
end

function M.try_lock_file(file, opts)
  local l, msg, code = lock_file(file, opts, "baton.try_lock_file", false)
  return l, msg, code
end

-- A read/write lock object on an SQLite file, Python filelock's ReadWriteLock protocol:
-- rw:read() and rw:write() return guards (doc/rwlock.md).
function M.rwlock(path, opts)
  local rw = require("baton.rwlock").new(path, opts, "baton.rwlock", 2)
  return rw
end

-- A counting semaphore of n slots: sem:acquire() returns a guard naming its slot
-- (doc/semaphore.md).
function M.semaphore(path, n, opts)
  local sem = require("baton.semaphore").new(path, n, opts, "baton.semaphore", 2)
  return sem
end
-- Acquire a soft lock (a marker file holding pid, host and start token; see doc/soft.md),
-- waiting as `opts` says; raises a string on timeout or failure.
function M.soft_lock(path, opts)
  local o = { kind = "soft" }
  if opts ~= nil then
    if type(opts) ~= "table" then
      options.misuse(2, "baton.soft_lock", path, "options must be a table, got " .. type(opts))
    end
    for k, v in pairs(opts) do o[k] = v end
    if opts.kind ~= nil and opts.kind ~= "soft" then
      options.misuse(2, "baton.soft_lock", path,
        "option 'kind' must be \"soft\" here, got " .. tostring(opts.kind))
    end
  end
  local l = lock.acquire_new(lock.new(path, o, "baton.soft_lock", 2), true, 2)
  return l
end

-- Leader elections on etcd (doc/etcd.md): campaign (waiting as baton.lock does), observe.
function M.elect(url, value, opts)
  local leadership = require("baton.elect").campaign(url, value, opts, "baton.elect", true)
  return leadership
end
function M.leader(url, opts) return require("baton.elect").leader(url, opts) end

-- Who holds the lock at `path`: a table (see doc/holder.md), or nil when nobody does.
M.holder = require("baton.holder").holder

-- An operator's break of the soft lock at `path` (a marker, or a strict lock's claims),
-- whoever holds it: returns who held it, or nil, message, code. A flock lock is refused:
-- the kernel frees it when its holder ends, and nothing else can.
function M.break_lock(path)
  options.check_path(path, "baton.break_lock", 2)
  local flocks = core.lock_holders(path)
  if flocks and #flocks > 0 then
    local pid = flocks[1].pid
    return nil, string.format("baton.break_lock: '%s' is a flock lock%s: there is nothing to "
      .. "break (the kernel frees it when its holder ends)", path,
      pid and (" held by pid " .. pid) or ""), "EINVAL"
  end
  return require("baton.kind.soft").break_lock(path)
end

return M
