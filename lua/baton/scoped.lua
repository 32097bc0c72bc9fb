-- The scoped form shared by lock objects and guards (`:with`), for Lua versions without
-- to-be-closed variables: run fn(...), then let go, on every exit.
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

function M.callable(fn)
  local mt = getmetatable(fn)
  return type(fn) == "function" or (type(mt) == "table" and mt.__call ~= nil)
end

-- Run fn(...), then finish(); return fn's results or re-raise its error unchanged.
function M.run(finish, fn, ...)
  local r = pack(pcall(fn, ...))
  finish()
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

return M
