-- Read/write locks as a kind of lock object: baton.new(path, { kind = "rw", shared = true })
-- holds the read lock of an SQLite lock file, without `shared` its write lock (the same lock
-- as baton.rwlock's and Python filelock's ReadWriteLock; see doc/rwlock.md). One mode per
-- object; baton.rwlock gives both modes on one object.
local core = require "baton.core"
local options = require "baton.options"

local Handle = {}
Handle.__index = Handle

function Handle:try() return self.h:try(self.write) end
function Handle:wait(seconds) return self.h:wait(seconds) end
function Handle:held() return self.h:held() and true or false end

function Handle:release()
  self.h:abandon() -- a waiting writer's place, if any
  self.h:release()
end

return {
  noun = "rw locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { shared = true, mode = true, mkdir = true },
  open = function(path, o)
    return setmetatable({ h = core.rwlock(path, options.mode(o, 438), o.mkdir ~= false),
      write = not o.shared }, Handle)
  end,
}
