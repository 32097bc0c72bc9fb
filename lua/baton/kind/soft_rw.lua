-- The soft_rw kind: filelock's SoftReadWriteLock (markers beside the path, see
-- src/core/soft_rw.h and doc/rwlock.md), one mode per lock object as the rw kind:
-- baton.new(path, { kind = "soft_rw", shared = true }) reads, without `shared` it writes.
-- baton.rwlock(path, { soft = true }) gives both modes on one object.
local core = require "baton.core"
local holders = require "baton.holder"
local rw = require "baton.kind.rw"

local M = {
  name = "soft_rw",
  noun = "soft read/write locks",
  options = { shared = true, mkdir = true, heartbeat = rw.soft_options.heartbeat },
  why = { mode = ", whose markers are 0600" },
}

function M.open(path, o)
  local every = o.heartbeat or rw.DEFAULT_HEARTBEAT
  local h = core.soft_rw(path, o.mkdir ~= false, every, 3 * every)
  return rw.handle(h, not o.shared)
end

-- The writer's marker and the readers' (after the kernel's table, before plain soft
-- markers): the writer first; `mode` is "write" while a writer holds or claims the lock.
M.probe = 25
function M.holder(path)
  local list = core.soft_rw_markers(path)
  if #list == 0 then return nil end
  local host = core.hostname()
  for _, e in ipairs(list) do
    e.shared = e.mode == "read"
    if e.host == host then
      local p = core.process(e.pid)
      e.alive = p ~= nil and not p.zombie
      if e.alive then holders.describe(e, e.pid) end
    end
  end
  local info = holders.summary("soft_rw", list)
  info.mode = list[1].mode
  return info
end

return M
