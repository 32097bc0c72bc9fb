-- "Download once, everyone reuses": any number of processes ask for the same file at once;
-- exactly one fetches it while the others wait on its lock, then all use the one copy.
--
--   baton examples/cache.lua CACHEDIR NAME [URL]
--
-- Without a URL the "download" is simulated (a second of sleep, then some bytes). Prints the
-- path of the cached file.
local baton = require "baton"

local cachedir, name, url = arg[1], arg[2], arg[3]
if not (cachedir and name) then
  io.stderr:write("usage: baton cache.lua CACHEDIR NAME [URL]\n")
  os.exit(64)
end
local path = cachedir .. "/" .. name

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Fast path: already there, no lock needed (the file only ever appears complete).
if not exists(path) then
  local l <close> = baton.lock(path .. ".lock", { timeout = 300, warn_after = 5,
    note = "fetching " .. name })
  if not exists(path) then -- nobody fetched it while we waited
    io.stderr:write("fetching " .. name .. "\n")
    local tmp = path .. ".part"
    local fetch = url and { "curl", "-fsSL", "-o", tmp, url }
      or { "sh", "-c", 'sleep 1; echo "contents of $1" > "$0"', tmp, name }
    local ok, status = baton.run(fetch)
    if not ok then
      os.remove(tmp)
      error("fetching " .. name .. " failed with status " .. tostring(status), 0)
    end
    assert(os.rename(tmp, path)) -- readers see the whole file or none
  end
end
print(path)
