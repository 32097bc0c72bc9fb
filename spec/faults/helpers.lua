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
function F.hold(kind, path, seconds, n, opts)
  local ready = H.tmpdir() .. "/ready"
  local spec = { H.LUA, F.HOLD, kind, path, tostring(seconds), ready }
  if n then spec[7] = tostring(n) end
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

return F
