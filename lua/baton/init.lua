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

return M
