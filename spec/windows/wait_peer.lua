-- Waits across wine processes, for spec/windows/15_waits.sh and bench/windows/run.sh, run
-- as `lua.exe wait_peer.lua MODE KIND PATH ...` (KIND "flock", "soft" or "semaphore"). Times are
-- baton.now(), QueryPerformanceCounter on Windows: one clock for every process, so a
-- holder's release and a waiter's acquisition in two processes compare.
--   hold KIND PATH SYNC ROUNDS HOLD_S  ROUNDS times: take the lock, create SYNC/held.N, wait
--                                      for SYNC/waiting.N, hold HOLD_S more, release; then
--                                      wait for SYNC/done.N. Prints each release's time.
--   wait KIND PATH SYNC ROUNDS TIMEOUT ROUNDS times: wait for SYNC/held.N, create
--                                      SYNC/waiting.N, take the lock with that timeout,
--                                      release it, create SYNC/done.N. Prints each
--                                      acquisition's time (or the failure's code).
--   timeout KIND PATH SECONDS STARTED  one wait with that timeout (STARTED created as it
--                                      begins): its code or "ok", and the seconds it waited
--   churn DIR READY GO                 create READY, then until GO exists create and delete
--                                      names in DIR; prints how many
local baton = require "baton"

local mode = arg[1]

-- Whether `name` opens in mode `how` ("rb": it exists; "wb": it is made), closing it again.
local function opens(name, how)
  local f = io.open(name, how)
  if f then f:close() end
  return f ~= nil
end

local function touch(name) assert(opens(name, "wb"), name) end

-- until `name` exists; a peer that never makes it ends the run (wine's first starts are slow)
local function await(name)
  local give_up = baton.now() + 120
  while not opens(name, "rb") do
    if baton.now() > give_up then error("wait_peer.lua: no " .. name .. " after 120 s") end
    baton.sleep(0.001)
  end
end

-- The lock, taken with the options `o` (a wait without a deadline when o is empty); KIND
-- "semaphore" is a slot of a one-slot semaphore at PATH (its slot file PATH.1).
local function take(kind, path, o)
  if kind == "semaphore" then return baton.semaphore(path, 1):try_acquire(o) end
  o.kind = kind
  return baton.try_lock(path, o)
end

local function rounds(fn)
  local out = {}
  for i = 1, tonumber(arg[5]) do out[i] = fn(i, arg[4] .. "/") end
  print(table.concat(out, "\n"))
end

if mode == "hold" then
  local hold = tonumber(arg[6])
  rounds(function(i, sync)
    local l = assert(take(arg[2], arg[3], { timeout = 60 }))
    touch(sync .. "held." .. i)
    await(sync .. "waiting." .. i)
    baton.sleep(hold)
    local t = baton.now()
    l:release()
    await(sync .. "done." .. i)
    return string.format("%.7f", t)
  end)
elseif mode == "wait" then
  local timeout = tonumber(arg[6])
  rounds(function(i, sync)
    await(sync .. "held." .. i)
    touch(sync .. "waiting." .. i)
    local l, _, code = take(arg[2], arg[3], { timeout = timeout })
    local t = baton.now()
    if l then l:release() end
    touch(sync .. "done." .. i)
    return l and string.format("%.7f", t) or code
  end)
elseif mode == "timeout" then
  touch(arg[5])
  local t0 = baton.now()
  local l, _, code = take(arg[2], arg[3], { timeout = tonumber(arg[4]) })
  print(l and "ok" or code, string.format("%.3f", baton.now() - t0))
  if l then l:release() end
elseif mode == "churn" then
  local dir, go, n = arg[2], arg[4], 0
  touch(arg[3])
  while not opens(go, "rb") do
    n = n + 1
    touch(dir .. "/churn." .. n)
    os.remove(dir .. "/churn." .. n)
    baton.sleep(0.002)
  end
  print(n)
else
  error("wait_peer.lua: unknown mode " .. tostring(mode))
end
