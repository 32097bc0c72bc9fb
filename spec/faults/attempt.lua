-- Attempts under exhausted or denied resources, run as a separate process (often with a low
-- descriptor limit, or as another user):
--   lua attempt.lua CASES OUT PROBE
-- CASES is a Lua file returning a list of cases { name =, kind =, path =, timeout =, n =,
-- mkdir =, free = }: with `free`, every descriptor but that many is taken first (so the
-- attempt meets EMFILE part of the way). kind: flock, flock-shared, soft, rw-read, rw-write,
-- sem (n slots), lock (baton.lock, which raises), holder (baton.holder: ok with code
-- "held", or fail with code "nobody" or the reason it cannot tell).
--
-- Each case runs twice. For each run OUT gets a line "name <TAB> run <TAB> result <TAB> code
-- <TAB> message <TAB> before <TAB> after <TAB> seconds", where result is ok, fail (nil,
-- message, code) or raise, before/after count the descriptors that could still be opened
-- before the attempt and after giving back what it got, and seconds is how long it took.
-- The first run may keep one descriptor for good (baton's pool of inotify instances); a
-- leak shows in the second. Afterwards, with every descriptor free again, another process
-- (PROBE: a command taking KIND PATH [N]) checks that this process holds none of the locks:
-- "probe <TAB> name <TAB> free|busy|...".
local baton = require "baton"
-- Load now what the attempts use: loading needs descriptors, which may be gone later.
require "baton.rwlock"
require "baton.semaphore"
require "baton.holder"
require "baton.kind.soft"

local cases = dofile(arg[1])
local out_path, probe_cmd = arg[2], arg[3]

-- Descriptors still to be had: open /dev/null until it fails, then close them again.
local function free_count()
  local t = {}
  while true do
    local f = io.open("/dev/null")
    if not f then break end
    t[#t + 1] = f
  end
  for _, f in ipairs(t) do f:close() end
  return #t
end

local held = {}
local function squeeze(n)
  while true do
    local f = io.open("/dev/null")
    if not f then break end
    held[#held + 1] = f
  end
  for _ = 1, n do
    local f = table.remove(held)
    if f then f:close() end
  end
end

local function unsqueeze()
  for _, f in ipairs(held) do f:close() end
  held = {}
end

local attempts = {
  flock = function(c) return baton.try_lock(c.path, { timeout = c.timeout, mkdir = c.mkdir }) end,
  ["flock-shared"] = function(c)
    return baton.try_lock(c.path, { timeout = c.timeout, mkdir = c.mkdir, shared = true })
  end,
  soft = function(c) return baton.try_lock(c.path, { kind = "soft", timeout = c.timeout, mkdir = c.mkdir }) end,
  ["rw-read"] = function(c)
    local rw = baton.rwlock(c.path, { mkdir = c.mkdir })
    local g, msg, code = rw:try_read({ timeout = c.timeout })
    return g, msg, code, rw
  end,
  ["rw-write"] = function(c)
    local rw = baton.rwlock(c.path, { mkdir = c.mkdir })
    local g, msg, code = rw:try_write({ timeout = c.timeout })
    return g, msg, code, rw
  end,
  sem = function(c) return baton.semaphore(c.path, c.n or 1, { mkdir = c.mkdir }):try_acquire({ timeout = c.timeout }) end,
  lock = function(c) return baton.lock(c.path, { timeout = c.timeout, mkdir = c.mkdir }) end,
  holder = function(c) -- ok: someone holds it; fail "nobody", or the reason it cannot tell
    local h, msg, code = baton.holder(c.path)
    if h then return true, nil, "held" end
    return false, msg, code or "nobody"
  end,
}

local function clean(s) return (tostring(s or ""):gsub("[\t\n]", " ")) end

local lines = {}

-- The attempt, its result told apart, and everything it made let go of: nothing of it is
-- referenced once this returns.
local function attempt_once(c)
  local attempt = assert(attempts[c.kind], "attempt.lua: unknown kind " .. tostring(c.kind))
  local t0 = baton.now()
  local ok, got, msg, code, obj = pcall(attempt, c)
  local took = baton.now() - t0
  local result
  if not ok then
    result, msg, code = "raise", got, ""
  elseif got then
    result = "ok"
    if type(got) == "table" and got.release then got:release() end
  else
    result = "fail"
  end
  if obj then obj:close() end -- a read/write lock object keeps its connection until closed
  return result, msg, code, took
end

local function run_case(c, run)
  if c.free then squeeze(c.free) end
  local before = free_count()
  local result, msg, code, took = attempt_once(c)
  collectgarbage()
  collectgarbage()
  local after = free_count()
  unsqueeze()
  lines[#lines + 1] = table.concat({ c.name, run, result, clean(code), clean(msg), before, after,
    string.format("%.4f", took) }, "\t")
end

for _, c in ipairs(cases) do
  run_case(c, 1)
  run_case(c, 2)
end

for _, c in ipairs(cases) do
  local kind = ({ flock = "flock", ["flock-shared"] = "flock", lock = "flock", soft = "soft",
    ["rw-read"] = "rw-write", ["rw-write"] = "rw-write", sem = "sem" })[c.kind]
  if kind and c.probe ~= false then
    local f = assert(io.popen(probe_cmd .. " " .. kind .. " '" .. c.path:gsub("'", "'\\''") .. "' "
      .. tostring(c.n or 1) .. " 2>&1"))
    local s = f:read("*a")
    f:close()
    lines[#lines + 1] = table.concat({ "probe", c.name, clean(s:gsub("%s+$", "")) }, "\t")
  end
end

local f = assert(io.open(out_path, "w"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
