-- A counter file (a decimal number) that peers count up under a lock, in the specs and in
-- bench/contend.lua: one increment reads it, adds one and writes it back in place. Nothing
-- makes that atomic but the lock around it, so a lost increment shows a lock that let two
-- in at once.
local M = {}

function M.bump(path)
  local f = assert(io.open(path, "r+"))
  local v = tonumber(f:read("*a"))
  f:seek("set")
  f:write(tostring(v + 1))
  f:close()
end

return M
