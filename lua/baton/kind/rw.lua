-- The rw kind: read/write locks on an SQLite lock file, one mode per lock object.
-- baton.new(path, { kind = "rw", shared = true }) holds the read lock, without `shared` the
-- write lock (the same lock as baton.rwlock's and Python filelock's ReadWriteLock; see
-- doc/rwlock.md). baton.rwlock gives both modes on one object (lua/baton/rwlock.lua).
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local Handle = {}
Handle.__index = Handle

function Handle:try() return self.h:try(self.write) end
function Handle:wait(seconds) return self.h:wait(seconds) end
function Handle:held() return self.h:held() and true or false end

function Handle:release()
  self.h:abandon() -- a waiting writer's place, if any
  self.h:release()
end

local M = {
  name = "rw",
  noun = "rw locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { shared = true, mode = true, mkdir = true },
}

-- A handle for one mode (`write`) of the SQLite connection `h`.
function M.handle(h, write)
  return setmetatable({ h = h, write = write }, Handle)
end

function M.open(path, o)
  return M.handle(core.rwlock(path, options.mode(o, 438), o.mkdir ~= false), not o.shared)
end

-- SQLite's record locks in the kernel's table, where it lists no flock holder (flock's
-- probe comes first); the lock's mode is "write" when a holder writes (or is about to).
-- baton.holder's `kind` option does not name this kind.
M.probe = 20
M.askable = false
function M.holder(path)
  local flocks, posix, code = core.lock_holders(path)
  if not flocks then return nil, posix, code end
  if #flocks > 0 or #posix == 0 then return nil end
  local list = holders.kernel_entries(path, posix)
  local info = holders.summary("rw", list)
  info.mode = "read"
  for _, e in ipairs(list) do
    if e.mode == "write" then info.mode = "write" end
  end
  return info
end

return M
