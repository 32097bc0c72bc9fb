-- A kill-storm worker: takes one kind of lock again and again and, under it, appends one
-- record to a shared counter file, until a stop file appears or it is killed.
--   lua worker.lua KIND LOCK DIR ID SEED [FLAGS]
-- KIND: flock, flock-mixed (a third of the sections shared, readers), soft, soft-lease, rw, softrw (a third
-- readers), sem (2 slots, a counter file per slot).
--
-- The counter file is a list of fixed-size records, "VALUE TAG\n" (32 bytes), appended under
-- the lock: VALUE is the previous record's plus one, TAG names the worker and section. A
-- record is written with one write(2) of 32 bytes that never crosses a page, so a kill
-- cannot leave half of one. The record itself is the commit: a section counts once its
-- record is in the file. The worker then appends the section's number to its own log
-- (DIR/log.ID). A kill between the two leaves exactly one record that its log lacks, the
-- section after the last one logged, so the harness can account for every record exactly:
-- a live worker's log lists exactly its records, a killed worker's lists all but at most
-- its last one. (No fsync: a killed process's writes are already in the kernel's page
-- cache, which is what the next holder reads; fsync only matters for power loss.)
--
-- Holders check exclusion themselves: a writer reads the counter's size on entry and again
-- just before appending (after a pause, sometimes), and a reader (shared lock) checks that
-- the size does not change while it holds the lock. A change means someone else was inside:
-- the worker records a violation in DIR/violations and exits with status 3.
local baton = require "baton"

local kind, path, dir, id, seed = arg[1], arg[2], arg[3], arg[4], tonumber(arg[5])
-- FLAGS, comma-separated: "poll" waits by single attempts only (a tight breaker of stale
-- soft markers); "crash" makes a soft holder leave, a third of the time, a marker naming a
-- dead process instead of releasing (what a crash leaves, without the cost of a restart).
local flags = {}
for flag in (arg[6] or ""):gmatch("[^,]+") do flags[flag] = true end
math.randomseed(seed)

local REC = 32

local function append(file, s)
  local f = assert(io.open(file, "ab"))
  f:write(s)
  f:close()
end

local function violation(what)
  append(dir .. "/violations", id .. ": " .. what .. "\n")
  io.stderr:write("violation: ", id, ": ", what, "\n")
  os.exit(3)
end

-- What the worker is doing, for the harness to tally where kills land: one byte at offset 0.
local state = assert(io.open(dir .. "/state." .. id, "wb"))
state:setvbuf("no")
local function phase(c)
  state:seek("set", 0)
  state:write(c)
end

local log = assert(io.open(dir .. "/log." .. id, "ab"))
log:setvbuf("no")

local function pause_inside()
  local r = math.random()
  if r < 0.15 then baton.sleep(math.random() * 0.004) end
end

-- A writer's section on counter file `file`.
local function write_section(file, seq)
  local f = assert(io.open(file, "a+b"))
  local size = f:seek("end")
  if size % REC ~= 0 then violation("counter file " .. file .. " has a torn record (size " .. size .. ")") end
  local last = 0
  if size > 0 then
    f:seek("set", size - REC)
    local rec = f:read(REC)
    last = tonumber(rec:match("^(%d+) "))
    if not last then violation("unreadable record " .. string.format("%q", rec)) end
  end
  pause_inside()
  local now = f:seek("end")
  if now ~= size then violation("the counter grew from " .. size .. " to " .. now .. " while inside") end
  local tag = id .. ":" .. seq
  local rec = string.format("%010d %-20s\n", last + 1, tag)
  assert(#rec == REC, tag)
  f:write(rec) -- a+ appends: the record goes at the end whatever the offset
  f:close()
  pause_inside() -- widens the gap between the commit and the log, which a kill may hit
  log:write(seq, "\n")
end

-- A reader's section: nobody may write while it holds a shared lock.
local function read_section(file, seq)
  local f = io.open(file, "rb")
  local size = f and f:seek("end") or 0
  pause_inside()
  local now = f and f:seek("end") or 0
  if f then f:close() end
  if now ~= size then violation("the counter grew from " .. size .. " to " .. now .. " under a read lock") end
  log:write("r", seq, "\n")
end

-- How to wait this time: in the kernel's queue (no options), with a deadline, with a
-- cooperative sleep, or by polling single attempts (always, with the "poll" flag).
local function wait_options()
  if flags.poll then return "poll" end
  local r = math.random(4)
  if r == 1 then return nil end
  if r == 2 then return { timeout = 60 } end
  if r == 3 then return { timeout = 60, sleep = baton.sleep } end
  return "poll"
end

-- Take with `take(opts)` (raises on failure) or by polling `try()`.
local function get(take, try)
  local o = wait_options()
  if o ~= "poll" then return take(o) end
  while true do
    local g, msg, code = try()
    if g then return g end
    if code ~= "busy" then error(msg) end
    baton.sleep(0.0005)
  end
end

local counter = dir .. "/counter"
local HOST = require("baton.core").hostname()
local DEAD_PID = tonumber(io.open("/proc/sys/kernel/pid_max"):read("*l")) + 1000 -- no process has it
local objects = {}
local function object(key, make)
  -- mostly one object per purpose, reused; sometimes a fresh one
  if math.random() < 0.2 or not objects[key] then objects[key] = make() end
  return objects[key]
end

local sections = {
  -- a lease of 1 s: its heartbeat keeps it while inside, whatever the section does
  ["soft-lease"] = function(seq)
    local l = object("x", function() return baton.new(path, { kind = "soft", lease = 1 }) end)
    get(function(o) return l:acquire(o) end, function() return l:try_acquire() end)
    phase("C")
    write_section(counter, seq)
    if not l:is_locked() then violation("the lease was lost while inside") end
    phase("R")
    l:release()
  end,
  flock = function(seq)
    local l = object("x", function() return baton.new(path) end)
    get(function(o) return l:acquire(o) end, function() return l:try_acquire() end)
    phase("C")
    write_section(counter, seq)
    phase("R")
    l:release()
  end,
  ["flock-mixed"] = function(seq)
    local shared = math.random() < 0.34
    local l = object(shared, function() return baton.new(path, { shared = shared }) end)
    get(function(o) return l:acquire(o) end, function() return l:try_acquire() end)
    phase("C")
    if shared then read_section(counter, seq) else write_section(counter, seq) end
    phase("R")
    l:release()
  end,
  soft = function(seq)
    local l = object("x", function() return baton.new(path, { kind = "soft" }) end)
    get(function(o) return l:acquire(o) end, function() return l:try_acquire() end)
    phase("C")
    write_section(counter, seq)
    phase("R")
    if flags.crash and math.random() < 0.34 then
      -- Leave the lock as a crashed holder would: the marker (the same file) now names a
      -- process that does not exist, and this object is dropped without a release.
      local f = assert(io.open(path, "r+b"))
      f:write(string.format("%d\n%s\n", DEAD_PID, HOST))
      f:close()
      objects.x = nil
      log:write("x", seq, "\n")
      return
    end
    l:release()
  end,
  rw = function(seq, opts)
    local rw = object("rw", function() return baton.rwlock(path, opts) end)
    local reader = math.random() < 0.34
    local g
    if reader then
      g = get(function(o) return rw:read(o) end, function() return rw:try_read() end)
    else
      g = get(function(o) return rw:write(o) end, function() return rw:try_write() end)
    end
    phase("C")
    if reader then read_section(counter, seq) else write_section(counter, seq) end
    phase("R")
    g:release()
  end,
  sem = function(seq)
    local sem = object("sem", function() return baton.semaphore(path, 2) end)
    local g = get(function(o) return sem:acquire(o) end, function() return sem:try_acquire() end)
    phase("C")
    write_section(counter .. "." .. g.slot, seq)
    phase("R")
    g:release()
  end,
}
-- filelock's SoftReadWriteLock: markers with heartbeats beside the path
sections.softrw = function(seq) return sections.rw(seq, { soft = true, heartbeat = 1 }) end

local section = assert(sections[kind], "worker.lua: unknown kind " .. tostring(kind))
local stop = dir .. "/stop"
local seq = 0
while true do
  phase("I")
  local s = io.open(stop)
  if s then s:close() break end
  seq = seq + 1
  phase("A")
  section(seq)
end
phase("E")
