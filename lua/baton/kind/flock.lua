-- flock(2) locks, exclusive or shared: the same lock as flock(1)'s and Python filelock's
-- FileLock on the same file. The handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"

local flock = core.flock

return {
  noun = "flock locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { shared = true, mode = true, mkdir = true },
  open = function(path, o)
    return flock(path, o.shared or false, options.mode(o, 438), o.mkdir ~= false)
  end,
}
