-- Shared tools of the fault suite (spec/faults, run by `make faults`): round counts from the
-- environment, a figures report, peer processes and probes from other processes.
local baton = require "baton"
local H = require "helpers"

local F = {}

F.ROOT = os.getenv("BATON_ROOT") or "."
F.HERE = F.ROOT .. "/spec/faults"
F.PROBE = F.ROOT .. "/spec/helpers/probe.lua"
F.HOLD = F.ROOT .. "/spec/helpers/hold.lua"
F.BIN = os.getenv("BATON_BIN") or (F.ROOT .. "/build/5.4/bin/baton")

-- A count from the environment (BATON_FAULT_<NAME>), scaled by BATON_FAULT_SCALE.
function F.count(name, default)
  local v = tonumber(os.getenv("BATON_FAULT_" .. name) or "") or default
  local scale = tonumber(os.getenv("BATON_FAULT_SCALE") or "") or 1
  return math.max(1, math.floor(v * scale + 0.5))
end

-- One line of figures: printed, and appended to $BATON_FAULT_REPORT when set.
function F.report(fmt, ...)
  local line = "[faults] " .. string.format(fmt, ...)
  io.stdout:write("\n", line, "\n")
  io.stdout:flush()
  local file = os.getenv("BATON_FAULT_REPORT")
  if file and file ~= "" then
    local f = io.open(file, "a")
    if f then f:write(line, "\n"); f:close() end
  end
end

-- A seed for math.random, printed so that a failing run can be repeated
-- (BATON_FAULT_SEED=N).
function F.seed(what)
  local seed = tonumber(os.getenv("BATON_FAULT_SEED") or "")
  if not seed then
    local f = io.open("/dev/urandom", "rb")
    local b = f:read(4)
    f:close()
    seed = b:byte(1) + b:byte(2) * 256 + b:byte(3) * 65536 + (b:byte(4) % 64) * 16777216
  end
  math.randomseed(seed)
  F.report("%s: seed %d (BATON_FAULT_SEED=%d repeats it)", what, seed, seed)
  return seed
end

-- A Lua process (the tested interpreter, with the module paths of this run).
function F.lua(script, args, opts)
  local spec = { H.LUA, script }
  for _, a in ipairs(args or {}) do spec[#spec + 1] = tostring(a) end
  for k, v in pairs(opts or {}) do spec[k] = v end
  return assert(baton.spawn(spec))
end

-- Is the lock free, asked by another process? "free", "busy" or "error CODE MESSAGE".
function F.probe(kind, path, n)
  local spec = { H.LUA, F.PROBE, kind, path, timeout = 30, stderr = "pipe" }
  if n then spec[5] = tostring(n) end
  local ok, status, out, err = baton.run(spec)
  assert(ok ~= nil, status)
  assert(status == 0, tostring(out) .. tostring(err))
  return (out:gsub("%s+$", ""))
end

-- A peer holding the lock for `seconds`; returns its process once it holds the lock.
-- `prefix` is a command line to run it under (setpriv ...).
function F.hold(kind, path, seconds, n, opts, prefix)
  local dir = H.tmpdir()
  os.execute("chmod 0777 " .. H.quote(dir))
  local ready = dir .. "/ready"
  local spec = { H.LUA, F.HOLD, kind, path, tostring(seconds), ready }
  if n then spec[7] = tostring(n) end
  for i = #(prefix or {}), 1, -1 do table.insert(spec, 1, prefix[i]) end
  for k, v in pairs(opts or {}) do spec[k] = v end
  local p = assert(baton.spawn(spec))
  H.wait_for(function() return H.read(ready) ~= nil or not p:running() end, 20, "holder of " .. path)
  assert(p:running(), "the holder of " .. path .. " ended early")
  return p
end

-- Names in a folder.
function F.ls(dir)
  local names = {}
  local f = assert(io.popen("ls -A " .. H.quote(dir) .. " 2>/dev/null"))
  for name in f:lines() do names[#names + 1] = name end
  f:close()
  return names
end

-- A tally { key = count } as "label 3, label 1", in the order of `labels` ({ key, label }).
function F.tally(t, labels)
  local parts = {}
  for _, kl in ipairs(labels) do parts[#parts + 1] = string.format("%s %d", kl[2], t[kl[1]] or 0) end
  return table.concat(parts, ", ")
end

-- The counter files the workers (spec/faults/worker.lua) and Python peers (peer.py) append
-- to: 32-byte records "VALUE TAG\n", TAG = "ID:SEQ".
local REC = 32

-- Every record of a counter file: { value, id, seq }.
local function records(file)
  local s = H.read(file) or ""
  assert(#s % REC == 0, file .. ": a torn record (size " .. #s .. ")")
  local list = {}
  for i = 1, #s, REC do
    local rec = s:sub(i, i + REC - 1)
    local value, id, seq = rec:match("^(%d+) ([%w%.]+):(%d+) *\n$")
    assert(value, string.format("%s: bad record %q", file, rec))
    list[#list + 1] = { tonumber(value), id, tonumber(seq) }
  end
  return list
end
F.records = records

-- A process's log: the sections it completed as a writer, and how many it read.
-- Lines "N" (a writer's section N), "rN" (a read section), "xN" (section N left its soft
-- marker as a crash would).
local function logged(dir, id)
  local writes, reads, crashes = {}, 0, 0
  for line in (H.read(dir .. "/log." .. id) or ""):gmatch("[^\n]+") do
    local c = line:sub(1, 1)
    if c == "r" then reads = reads + 1
    elseif c == "x" then crashes = crashes + 1
    else writes[#writes + 1] = assert(tonumber(line), line) end
  end
  return writes, reads, crashes
end

-- Account for every record of the counter files `counters` (names in `dir`): values 1..N in
-- order in each file (no section lost, none counted twice), and each process's log lists
-- exactly its records, except that a process in `killed` may lack its very last one (killed
-- between the commit and the log). Returns the records, the read sections, the records
-- a kill left unlogged and the markers left as by a crash.
function F.account(dir, counters, killed)
  local by_id, total = {}, 0
  for _, name in ipairs(counters) do
    local list = records(dir .. "/" .. name)
    for i, r in ipairs(list) do
      assert(i == r[1], name .. ": record " .. i .. " has value " .. r[1])
      local mine = by_id[r[2]] or {}
      by_id[r[2]] = mine
      mine[#mine + 1] = r[3]
    end
    total = total + #list
  end
  local reads, unlogged, crashes = 0, 0, 0
  for _, name in ipairs(F.ls(dir)) do
    local id = name:match("^log%.(.+)$")
    if id then
      local writes, r, x = logged(dir, id)
      reads, crashes = reads + r, crashes + x
      local recs = by_id[id] or {}
      by_id[id] = nil
      table.sort(recs)
      for i, seq in ipairs(writes) do
        assert(seq == recs[i], id .. ": logged section " .. seq .. " has no record")
      end
      if #recs == #writes + 1 then
        assert(killed[id], id .. " was not killed, yet has a record it did not log")
        assert(recs[#recs] > (writes[#writes] or 0), id .. ": an unlogged record before its last logged one")
        unlogged = unlogged + 1
      else
        assert(#recs == #writes, id .. ": " .. #recs .. " records, " .. #writes .. " logged")
      end
    end
  end
  assert(next(by_id) == nil, "records of a process without a log")
  return total, reads, unlogged, crashes
end

-- The names in `dir` left by interrupted soft-lock breaks.
function F.break_leftovers(dir)
  local n = 0
  for _, name in ipairs(F.ls(dir)) do
    if name:match("^%.baton%-break%.") then n = n + 1 end
  end
  return n
end

return F
