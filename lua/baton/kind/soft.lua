-- Soft locks: the lock is a marker file created with O_EXCL and holding its owner in Python
-- filelock's format ("pid\nhost\nstart-token\n"). A marker whose owner is provably gone is
-- broken and taken over; see doc/soft.md. The handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"

local soft = core.soft

return {
  noun = "soft locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { mode = true, mkdir = true, stale_after = true },
  why = { shared = ", which are exclusive" },
  open = function(path, o)
    -- 0644 unless told otherwise: others need to read a marker, never to write it
    return soft(path, options.mode(o, 420), o.mkdir ~= false, o.stale_after)
  end,
}
