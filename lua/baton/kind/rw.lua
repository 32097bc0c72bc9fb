-- The rw kind: read/write locks on an SQLite lock file, one mode per lock object.
-- baton.new(path, { kind = "rw", shared = true }) holds the read lock, without `shared` the
-- write lock (the same lock as baton.rwlock's and Python filelock's ReadWriteLock; see
-- doc/rwlock.md). baton.rwlock gives both modes on one object (lua/baton/rwlock.lua).
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local Handle = {}
Handle.__index = Handle

-- SQLite's locks are the process's: two connections of one process on one file exclude each
-- other as two processes would, and a wait for a lock another object of this process holds
-- could never end where nothing can yield. So the connections holding a lock are listed
-- here, by the file they are on ("dev:ino", asked once per handle: one that reconnects to a
-- file put in the old one's place stays under the old file and goes unnamed), for never().
-- (Weak: a connection whose object is collected while holding lets go in its __gc.)
local taken = {} -- "dev:ino" -> set of the core handles holding a lock on that file
local WEAK = { __mode = "k" }

-- List the connection of handle `a` (one mode's, M.handle's) as holding a lock; the set for
-- its file is kept on the handle, so that listing and striking off are one store each.
local function note_taken(a)
  local id = a.h:identity()
  if id == nil then return end
  local set = taken[id]
  if not set then
    set = setmetatable({}, WEAK)
    taken[id] = set
  end
  a.set = set
  set[a.h] = true
end

function Handle:try()
  local h = self.h
  local ok, msg, code = h:try(self.write)
  if ok then
    local set = self.set
    if set then set[h] = true else note_taken(self) end
  end
  return ok, msg, code
end

-- A phrase when another connection of this process holds the lock in a mode that keeps
-- this one out (any mode for a writer, writing for a reader), else nil: asked by wait.lua
-- only for a wait without an end, which would then never end.
function Handle:never()
  local h = self.h
  local id = h:identity()
  local set = id and taken[id]
  if not set then return nil end
  for other in pairs(set) do
    if other ~= h then
      local m = other:held()
      if m and (self.write or m == "write") and other:identity() == id then
        return "this process, through another lock object"
      end
    end
  end
  return nil
end
function Handle:wait(seconds) return self.h:wait(seconds) end
function Handle:held() return self.h:held() and true or false end

-- A descriptor readable once the held lock is lost (a soft read/write lock whose marker a
-- peer evicted), or nil.
function Handle:lostfd()
  local h = self.h
  local f = h.lostfd
  return f and f(h) or nil
end

-- Nothing, or nil, message, "lost" when the held lock had been lost (a soft one).
function Handle:release()
  local h = self.h
  h:abandon() -- a waiting writer's place, if any
  local ok, msg, code = h:release()
  local set = self.set
  if set then set[h] = nil end
  return ok, msg, code
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



-- filelock's SoftReadWriteLock (markers beside the path, for shared file systems) where
-- `soft = true`: its handle (core/soft_rw.h), else nil. Every peer must agree on the
-- heartbeat: a marker not refreshed for three of them is evicted (filelock's defaults: 30 s,
-- 90 s).
M.soft_options = {
  soft = function(v) if type(v) ~= "boolean" then return "must be a boolean, got " .. type(v) end end,
  heartbeat = function(v)
    if type(v) ~= "number" then return "must be a number of seconds, got " .. type(v) end
    if v ~= v or v <= 0 or v == math.huge then return "must be a positive number of seconds" end
  end,
}
M.DEFAULT_HEARTBEAT = 30
function M.soft_handle(path, o, fname)
  if not o.soft then
    if o.heartbeat ~= nil then
      error(string.format("%s: option 'heartbeat' needs soft = true (lock '%s')", fname, path), 4)
    end
    return nil
  end
  if o.mode ~= nil then
    error(string.format("%s: option 'mode' does not apply to soft read/write locks, whose "
      .. "markers are 0600 (lock '%s')", fname, path), 4)
  end
  local every = o.heartbeat or M.DEFAULT_HEARTBEAT
  return core.soft_rw(path, o.mkdir ~= false, every, 3 * every)
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
