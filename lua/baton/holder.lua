-- Who holds a lock: baton.holder(path [, { kind = NAME }]), asking the kinds.
-- The kernel's word (/proc/locks) or the soft marker decides who holds it; baton's holder
-- records only add the note and since-time to a holder already named that way. See
-- doc/holder.md. The helpers below build the answer's shape for the kinds' holder functions.
local core = require "baton.core"
local kinds = require "baton.kind"

local M = {}

-- Command line and start time of a process on this host, added to entry `e`.
local function describe(e, pid)
  local p = core.process(pid)
  if p then
    e.cmdline, e.started = p.cmdline, p.started
  end
end
M.describe = describe

-- The note and since-time a baton holder published about this file, added to entry `e`.
local function add_record(e, pid, path)
  local rec = core.record(pid, path)
  if rec then
    e.since, e.note, e.baton = rec.since, rec.note, true
    e.cmdline = e.cmdline or rec.cmdline -- where the system does not tell it (Windows)
  end
end
M.add_record = add_record

-- What this system does not tell, said in every answer's `unknown` (nil where all is known:
-- Linux): other programs' flock holders where there is no kernel lock table to read, and so
-- on (doc/platforms.md).
local UNKNOWN = {
  { "lock_table", "flock holders other than baton processes (no kernel lock table)" },
  { "lock_table", "read/write lock holders (SQLite's record locks are published by nobody)" },
  { "openers", "which processes have a marker open" },
  { "cmdline", "command lines" },
  { "started", "start times and tokens (a recycled pid is not told from its holder)" },
}
local platform = core.platform or {}
local unknown = {}
for _, u in ipairs(UNKNOWN) do
  if platform[u[1]] == false then unknown[#unknown + 1] = u[2] end
end
M.unknown = #unknown > 0 and unknown or nil

-- The answer: the first holder's fields at the top, every holder in `holders`.
function M.summary(kind, holders, extra)
  local first = holders[1] or {}
  local info = {
    kind = kind, pid = first.pid, host = first.host, since = first.since, note = first.note,
    cmdline = first.cmdline, started = first.started, alive = first.alive,
    shared = first.shared or false, holders = holders, unknown = M.unknown,
  }
  for k, v in pairs(extra or {}) do info[k] = v end
  return info
end

-- One entry per item of `list`, made by make(item, host) for this host.
local function entries(list, make)
  local host = core.hostname()
  local holders = {}
  for i, x in ipairs(list) do holders[i] = make(x, host) end
  return holders
end

-- Entries for the holders the kernel's table lists (flock or record locks), one per process.
function M.kernel_entries(path, list)
  return entries(list, function(h, host)
    local e = { pid = h.pid, host = host, shared = h.shared, alive = true }
    if h.ofd then -- an open file description lock: its range, as lslocks shows it
      e.api, e.start, e["end"] = "fcntl", h.start, h["end"]
    elseif h.writes ~= nil then
      e.mode, e.sqlite = h.writes and "write" or "read", h.sqlite
    end
    if h.pid then
      describe(e, h.pid)
      add_record(e, h.pid, path)
    end
    return e
  end)
end

-- Entries for the processes of this host in `pids` (holding the lock at `path`).
function M.process_entries(pids, since)
  return entries(pids, function(pid, host)
    local e = { pid = pid, host = host, alive = true, since = since, shared = false }
    describe(e, pid)
    return e
  end)
end

local function misuse(msg, path)
  error(string.format("baton.holder: %s (lock '%s')", msg, tostring(path)), 4)
end

-- The kinds the `kind` option may name.
local function askable()
  local names = {}
  for _, k in ipairs(kinds.probed()) do
    if k.askable ~= false then names[#names + 1] = '"' .. k.name .. '"' end
  end
  if #names < 2 then return names[1] or "a kind" end
  return table.concat(names, ", ", 1, #names - 1) .. " or " .. names[#names]
end

local function check(path, opts)
  if type(path) ~= "string" then
    error("baton.holder: the lock path must be a string, got " .. type(path), 3)
  end
  if path == "" then error("baton.holder: the lock path is empty", 3) end
  if path:find("\0", 1, true) then
    error(string.format("baton.holder: the lock path %q contains a NUL byte", path), 3)
  end
  if opts == nil then return nil end
  if type(opts) ~= "table" then misuse("options must be a table, got " .. type(opts), path) end
  for k, v in pairs(opts) do
    if k ~= "kind" then misuse("unknown option '" .. tostring(k) .. "'", path) end
    local kind = type(v) == "string" and kinds.find(v)
    if not (kind and kind.holder and kind.probe and kind.askable ~= false) then
      misuse("option 'kind' must be " .. askable() .. ", got " .. tostring(v), path)
    end
  end
  return kinds.find(opts.kind)
end

-- Who holds the lock at `path`, or nil when nobody does (also for a missing file); nil,
-- message, code when it cannot be told (no descriptor left, a marker it may not read).
-- A path whose scheme a kind claims asks that kind; the `kind` option asks the kind named;
-- otherwise each kind that can be probed is asked in its order (the kernel's table first:
-- a holder it lists holds the lock, whatever the file says) and the first that names a
-- holder answers. Where none does, the first that could not tell says why.
function M.holder(path, opts)
  local asked = check(path, opts)
  local claimed = kinds.claimed(path)
  if claimed or asked then
    local k = claimed or asked
    if not k.holder then
      return nil, string.format("baton: %s cannot tell who holds them", k.noun), "ENOSYS"
    end
    return k.holder(path, true)
  end
  local emsg, ecode
  for _, k in ipairs(kinds.probed()) do
    local info, msg, code = k.holder(path, false)
    if info then return info end
    if msg and not emsg then emsg, ecode = msg, code end
  end
  return nil, emsg, ecode
end

return M
