-- The basics: run with `make example`, or `lua5.4 examples/quickstart.lua` once installed.
local baton = require "baton"

local path = arg[1]
if not path then
  path = os.tmpname() -- a fresh name; the lock file goes beside it
  os.remove(path)
  path = path .. ".lock"
end

-- Held until the end of the block, however it is left.
do
  local l <close> = baton.lock(path, { timeout = 5 })
  print("holding " .. l.path)

  -- A second lock object, even in the same process, is excluded.
  local other, msg, code = baton.try_lock(path)
  print("second attempt:", other, code, msg)
end

-- Free again once the block is left.
local again = assert(baton.try_lock(path))
print("after the block:", again:is_locked())
again:release()

-- A reusable, reentrant object; :with is the scoped form for Lua 5.1 and LuaJIT.
local l = baton.new(path, { note = "quickstart" })
local sum = l:with(function(a, b) return a + b end, 2, 3)
print("computed under the lock:", sum, "held afterwards:", l:is_locked())
os.remove(path)
