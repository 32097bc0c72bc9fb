-- Hand-off latency from a baton holder: like ../shared/bench/handoff.py, but the holder is
-- baton itself, releasing with l:release(). The waiter is any program speaking the protocol.
-- usage: handoff_baton.lua LOCKPATH ROUNDS HOLD_S -- WAITER_CMD...
-- prints: p50_us p90_us p99_us max_us
local baton = require "baton"

local path, rounds, hold = arg[1], tonumber(arg[2]), tonumber(arg[3])
assert(arg[4] == "--", "usage: handoff_baton.lua LOCKPATH ROUNDS HOLD_S -- WAITER_CMD...")
local cmd = {}
for i = 5, #arg do cmd[#cmd + 1] = "'" .. arg[i]:gsub("'", "'\\''") .. "'" end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir .. " && mkfifo " .. dir .. "/in " .. dir .. "/out"))
os.execute(table.concat(cmd, " ") .. " < " .. dir .. "/in > " .. dir .. "/out &")
local to = assert(io.open(dir .. "/in", "w"))
local from = assert(io.open(dir .. "/out", "r"))
local function say(s) to:write(s, "\n"); to:flush() end

local lat = {}
local l = baton.new(path)
for _ = 1, rounds do
  l:acquire()
  say("acquire")
  baton.sleep(hold)
  local t0 = baton.now()
  l:release()
  assert(from:read("*l") == "acquired", "the waiter did not acquire")
  lat[#lat + 1] = (baton.now() - t0) * 1e6
  say("release")
  assert(from:read("*l") == "released", "the waiter did not release")
end
say("quit")
to:close(); from:close()
os.execute("rm -rf " .. dir)
table.sort(lat)
local function q(p) return lat[math.min(#lat, math.floor(p * #lat) + 1)] end
print(string.format("p50_us %.0f p90_us %.0f p99_us %.0f max_us %.0f", q(.5), q(.9), q(.99), lat[#lat]))
