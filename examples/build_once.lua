-- "The first process builds, the others wait, then use the result" (the pattern of
-- PyTorch's FileBaton), done so that no process can ever load a half-built result and a
-- builder that crashes is taken over instead of leaving everyone waiting forever.
--
--   lua5.4 examples/build_once.lua OUTPUT [BUILD_SECONDS]
--
-- Run it from several processes at once: one prints "built OUTPUT", every one prints
-- "used OUTPUT (N lines)".
local baton = require "baton"

local out = assert(arg[1], "usage: build_once.lua OUTPUT [BUILD_SECONDS]")
local build_seconds = tonumber(arg[2]) or 0.5

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The expensive step. It writes a temporary file and renames it into place once complete:
-- rename(2) is atomic, so OUTPUT is either absent or whole, never half-written. Only the
-- lock holder writes the temporary file, and a holder that crashed left it to be rewritten.
local function build()
  local tmp = out .. ".partial"
  local f = assert(io.open(tmp, "wb"))
  for i = 1, 10 do
    f:write(string.format("line %d of the result\n", i))
    f:flush()
    baton.sleep(build_seconds / 10)
  end
  f:write("complete\n")
  f:close()
  assert(os.rename(tmp, out))
  print("built " .. out)
end

-- Fast path: a result that exists is complete, no lock needed.
if not exists(out) then
  -- A soft lock: a builder killed mid-way leaves a marker naming a process that is gone,
  -- which the next waiter breaks and takes over.
  baton.new(out .. ".lock", { kind = "soft", timeout = 600, note = "building " .. out })
    :with(function()
      -- Check again under the lock: someone may have finished while we waited.
      if not exists(out) then build() end
    end)
end

local f = assert(io.open(out, "rb"))
local data = f:read("*a")
f:close()
assert(data:sub(-9) == "complete\n", "a half-built result was loaded")
local lines = select(2, data:gsub("\n", ""))
print(string.format("used %s (%d lines)", out, lines))
