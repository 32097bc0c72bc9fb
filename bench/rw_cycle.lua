-- Read/write locks and semaphores: uncontended cycles in CPU nanoseconds per cycle (user +
-- system, as ../shared/bench/py_rw_cycle.py measures), Python's sqlite3 running filelock's
-- ReadWriteLock protocol in the same run as an anchor, the hand-off from a writer to a waiting
-- reader in another process, and what a waiter costs while it waits.
-- usage: rw_cycle.lua [DIR] [CYCLES] [ROUNDS]    (module paths as for the specs)
local baton = require "baton"
local core = require "baton.core"

local dir = arg[1] or "/tmp"
local n = tonumber(arg[2]) or 100000
local rounds = tonumber(arg[3]) or 200
local PY = "/usr/bin/python3"
local LUA = os.getenv("LUA_BIN") or "lua5.4"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function measure(name, k, fn)
  fn(math.max(1, math.floor(k / 10))) -- warm up
  collectgarbage()
  local c0 = os.clock()
  fn(k)
  print(string.format("%-58s ns/cycle %7.0f", name, (os.clock() - c0) / k * 1e9))
end

print("== uncontended cycles (CPU ns per cycle)")
local path = dir .. "/rw_bench.lock"
local rw = baton.rwlock(path)
measure("baton rw:read():release()", n, function(k)
  for _ = 1, k do rw:read():release() end
end)
measure("baton rw:write():release()", n, function(k)
  for _ = 1, k do rw:write():release() end
end)
if _VERSION == "Lua 5.4" then
  measure("baton local r <close> = rw:read()", n, load([[
    local rw = ...
    return function(k) for _ = 1, k do local r <close> = rw:read() end end
  ]])(rw))
end
local h = core.rwlock(path, 438, true)
measure("core handle read try+release (no guard)", n, function(k)
  for _ = 1, k do h:try(false); h:release() end
end)
measure("core handle write try+release (no guard)", n, function(k)
  for _ = 1, k do h:try(true); h:release() end
end)
h:close()
measure("baton.rwlock(path):read():release() (new object)", math.floor(n / 10), function(k)
  for _ = 1, k do local o = baton.rwlock(path); o:read():release(); o:close() end
end)
local sem = baton.semaphore(dir .. "/sem_bench", 4)
measure("baton sem:acquire():release() (slot 1 of 4)", n, function(k)
  for _ = 1, k do sem:acquire():release() end
end)
rw:close()

-- The same protocol from Python's sqlite3 module: as filelock >= 3.2x runs it (a vetted
-- descriptor and a connection per acquisition), and with one connection kept open.
local anchor = [[
import os, sqlite3, sys, time
path, n = sys.argv[1], int(sys.argv[2])
READ = "BEGIN TRANSACTION; SELECT name FROM sqlite_master LIMIT 1;"
WRITE = "BEGIN EXCLUSIVE TRANSACTION;"
def per_acquisition(script):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    os.fstat(fd); os.pread(fd, 20, 0)
    con = sqlite3.connect("/proc/self/fd/%d" % fd, timeout=0, cached_statements=0)
    con.executescript("PRAGMA busy_timeout=0; PRAGMA journal_mode=MEMORY;").close()
    con.executescript(script).close()
    con.rollback(); con.close(); os.close(fd)
kept = sqlite3.connect(path, timeout=0, isolation_level=None)
kept.execute("PRAGMA journal_mode=MEMORY")
def kept_read():
    kept.execute("BEGIN"); kept.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    kept.execute("ROLLBACK")
def kept_write():
    kept.execute("BEGIN EXCLUSIVE"); kept.execute("ROLLBACK")
for name, k, fn in (("read, connection per acquisition (filelock's way)", n // 10, lambda: per_acquisition(READ)),
                    ("write, connection per acquisition (filelock's way)", n // 10, lambda: per_acquisition(WRITE)),
                    ("read, one connection kept open", n, kept_read),
                    ("write, one connection kept open", n, kept_write)):
    t0 = time.process_time_ns()
    for _ in range(k):
        fn()
    print("%-58s ns/cycle %7.0f" % ("python sqlite3 " + name, (time.process_time_ns() - t0) / k))
]]
os.execute(PY .. " -c " .. quote(anchor) .. " " .. quote(dir .. "/py_bench.lock") .. " " .. n)
print("(Python filelock 3.32 ReadWriteLock read cycle, ../shared/bench/README.md: 69000 ns)")

-- Hand-off: this process holds the lock in one mode while a waiter in another process waits
-- for the other mode; the waiter prints when (CLOCK_MONOTONIC) it got in, this process notes
-- when it let go.
local LUA_WAITER = [[
local baton = require "baton"
local rw = baton.rwlock(arg[1])
local mode = arg[2]
for line in io.lines() do
  if line ~= "acquire" then break end
  local g = rw[mode](rw, { timeout = 30 })
  io.write(string.format("acquired %.9f\n", baton.now())); io.flush()
  g:release()
end
]]
local PY_WAITER = [[
import os, sqlite3, sys, time
path, mode = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    if line.strip() != "acquire":
        break
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=MEMORY")
    if mode == "write":
        con.execute("BEGIN EXCLUSIVE")
    else:
        con.execute("BEGIN"); con.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    print("acquired %.9f" % time.monotonic(), flush=True)
    con.execute("ROLLBACK"); con.close()
]]

local function percentile(t, p)
  return t[math.max(1, math.min(#t, math.floor(#t * p + 0.5)))]
end

local function handoff(name, cmd, lockpath, hold, want)
  local fifo = dir .. "/handoff.fifo"
  os.remove(fifo)
  os.execute("mkfifo " .. quote(fifo))
  local out = assert(io.popen(cmd .. " " .. quote(lockpath) .. " " .. want .. " < " .. quote(fifo)))
  local to = assert(io.open(fifo, "w"))
  local holder = baton.rwlock(lockpath)
  local lat = {}
  for i = 1, rounds do
    local w = holder[hold](holder)
    to:write("acquire\n"); to:flush()
    baton.sleep(0.005 + (i % 4) * 0.005) -- the waiter is waiting by now
    local released = baton.now()
    w:release()
    local got = tonumber(out:read("*l"):match("acquired (%S+)"))
    lat[#lat + 1] = (got - released) * 1e6
  end
  to:write("quit\n"); to:close(); out:close()
  holder:close()
  table.sort(lat)
  print(string.format("%-40s p50 %7.0f  p90 %7.0f  p99 %7.0f  max %7.0f", name,
    percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), lat[#lat]))
end

print(string.format("== hand-off to a waiter in another process (µs, %d rounds; baton holder)", rounds))
local waiter = dir .. "/waiter.lua"
local f = assert(io.open(waiter, "w")); f:write(LUA_WAITER); f:close()
handoff("writer -> baton reader", LUA .. " " .. quote(waiter), dir .. "/h1.lock", "write", "read")
handoff("writer -> python sqlite3 reader", PY .. " -c " .. quote(PY_WAITER), dir .. "/h2.lock",
  "write", "read")
handoff("reader -> baton writer", LUA .. " " .. quote(waiter), dir .. "/h3.lock", "read", "write")
handoff("reader -> python sqlite3 writer", PY .. " -c " .. quote(PY_WAITER), dir .. "/h4.lock",
  "read", "write")

-- What waiting costs: a waiter in another process tries for 2 s while this one holds.
print("== CPU used by a waiter during a 2 s wait (% of one core)")
local COST = [[
local baton = require "baton"
local rw = baton.rwlock(arg[1])
local c0 = os.clock()
local g = (arg[2] == "write") and rw:try_write({ timeout = 2 }) or rw:try_read({ timeout = 2 })
print(string.format("%.2f", (os.clock() - c0) / 2 * 100))
]]
local cost = dir .. "/cost.lua"
f = assert(io.open(cost, "w")); f:write(COST); f:close()
local lp = dir .. "/cost.lock"
local held = baton.rwlock(lp)
local r = held:read()
local p = io.popen(LUA .. " " .. quote(cost) .. " " .. quote(lp) .. " write")
print(string.format("%-40s %s%%", "baton writer (holding PENDING)", p:read("*l"))); p:close()
r:release()
local w = held:write()
p = io.popen(LUA .. " " .. quote(cost) .. " " .. quote(lp) .. " read")
print(string.format("%-40s %s%%", "baton reader", p:read("*l"))); p:close()
w:release()
held:close()
for _, name in ipairs({ waiter, cost, dir .. "/handoff.fifo" }) do os.remove(name) end
