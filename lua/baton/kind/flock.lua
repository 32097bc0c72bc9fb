-- The flock kind: flock(2) locks, exclusive or shared; the default kind.
-- The same lock as flock(1)'s and Python filelock's FileLock on the same file; the default
-- kind of a path no other kind claims. The handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local flock = core.flock

return {
  name = "flock",
  noun = "flock locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { shared = true, mode = true, mkdir = true },
  open = function(path, o)
    return flock(path, o.shared or false, options.mode(o, 438), o.mkdir ~= false)
  end,
  -- The kernel's table names the holders of flock(2) locks; nil when it lists none, nil,
  -- message, code when /proc/locks cannot be read.
  probe = 10,
  holder = function(path)
    local flocks, posix, code = core.lock_holders(path)
    if not flocks then return nil, posix, code end
    if #flocks == 0 then return nil end
    return holders.summary("flock", holders.kernel_entries(path, flocks))
  end,
}
