-- Who holds a lock: baton.holder(path [, { kind = "flock" | "soft" }]). The kernel's word
-- (/proc/locks) or the soft marker decides who holds it; baton's holder records only add
-- the note and since-time to a holder already named that way. See doc/holder.md.
local core = require "baton.core"

local M = {}

local KINDS = { flock = true, soft = true }

local function misuse(msg, path)
  error(string.format("baton.holder: %s (lock '%s')", msg, tostring(path)), 3)
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
    if not KINDS[v] then
      misuse("option 'kind' must be \"flock\" or \"soft\", got " .. tostring(v), path)
    end
  end
  return opts.kind
end

-- Command line and start time of a process on this host, added to entry `e`.
local function describe(e, pid)
  local p = core.process(pid)
  if p then
    e.cmdline, e.started = p.cmdline, p.started
  end
end

-- The note and since-time a baton holder published about this file, added to entry `e`.
local function add_record(e, pid, path)
  local rec = core.record(pid, path)
  if rec then
    e.since, e.note, e.baton = rec.since, rec.note, true
  end
end

-- The summary: the first holder's fields at the top, every holder in `holders`.
local function summary(kind, holders, extra)
  local first = holders[1] or {}
  local info = {
    kind = kind, pid = first.pid, host = first.host, since = first.since, note = first.note,
    cmdline = first.cmdline, started = first.started, alive = first.alive,
    shared = first.shared or false, holders = holders,
  }
  for k, v in pairs(extra or {}) do info[k] = v end
  return info
end

-- Entries for the holders the kernel's table lists (flock or record locks), one per process.
local function kernel_entries(path, list)
  local host = core.hostname()
  local holders = {}
  for i, h in ipairs(list) do
    local e = { pid = h.pid, host = host, shared = h.shared, alive = true }
    if h.writes ~= nil then
      e.mode, e.sqlite = h.writes and "write" or "read", h.sqlite
    end
    if h.pid then
      describe(e, h.pid)
      add_record(e, h.pid, path)
    end
    holders[i] = e
  end
  return holders
end

-- The kernel's word: flock holders, else record-lock (SQLite, "rw") holders; nil when it
-- lists none; nil, message, code when /proc/locks cannot be read.
local function kernel_holder(path, only_flock)
  local flocks, posix, code = core.lock_holders(path)
  if not flocks then return nil, posix, code end
  if #flocks > 0 then return summary("flock", kernel_entries(path, flocks)) end
  if only_flock or #posix == 0 then return nil end
  local holders = kernel_entries(path, posix)
  local info = summary("rw", holders)
  -- the lock's mode: "write" when a holder writes (or is about to), else "read"
  info.mode = "read"
  for _, e in ipairs(holders) do
    if e.mode == "write" then info.mode = "write" end
  end
  return info
end

local function flock_holder(path)
  return kernel_holder(path, true)
end

-- A marker that names a live process of another user than the file's owner: a forgery (any
-- user can write any pid into a file). The named process is not reported as the holder;
-- the file's owner is, and the lock stays unavailable (baton never breaks such a marker).
local function forged_marker(m)
  local e = { uid = m.uid, user = m.user, since = m.mtime, shared = false, forged = true,
    claimed_pid = m.pid }
  return summary("soft", { e }, { stale = false, forged = true, believed = false,
    uid = m.uid, user = m.user, claimed_pid = m.pid, claimed_uid = m.process_uid,
    claimed_user = m.process_user })
end

-- A marker that names its owner.
local function named_marker(path, m)
  if m.believed == false then return forged_marker(m) end
  local e = { pid = m.pid, host = m.host, token = m.token, alive = m.alive, since = m.mtime,
    shared = false }
  if m.this_host and m.alive then
    describe(e, m.pid)
    add_record(e, m.pid, path)
  end
  return summary("soft", { e }, { token = m.token, stale = m.stale })
end

-- A marker that names nobody (filelock 3.9 leaves it empty): whoever keeps it open holds
-- it, as far as this process can see.
local function ownerless_marker(path, m)
  local host = core.hostname()
  local holders = {}
  for i, pid in ipairs(core.openers(path)) do
    local e = { pid = pid, host = host, alive = true, since = m.mtime, shared = false }
    describe(e, pid)
    holders[i] = e
  end
  local alive = nil
  if #holders > 0 then alive = true elseif m.stale then alive = false end
  local info = summary("soft", holders, { stale = m.stale, malformed = true, since = m.mtime,
    foreign = m.foreign or nil, uid = m.uid, user = m.user })
  info.alive = alive
  return info
end

local function soft_holder(path, asked)
  local m, msg, code = core.marker(path)
  if not m then return nil, msg, code end -- no marker, or (with msg) one that cannot be read
  if m.named then return named_marker(path, m) end
  if asked then return ownerless_marker(path, m) end
  return nil -- an empty or foreign file is no evidence of a soft lock
end

-- An empty marker, kept open for writing only by a process (as filelock 3.9's
-- SoftFileLock keeps its empty marker while it holds the lock): a soft lock, even when the
-- soft kind was not asked for. Lock files for flock or SQLite are never open that way.
local function written_marker(path)
  local m = core.marker(path)
  -- filelock 3.9 writes nothing into it; only then is /proc walked to find its holder
  if not m or m.named or m.size ~= 0 then return nil end
  local host = core.hostname()
  local holders = {}
  for i, pid in ipairs(core.openers(path, true)) do
    local e = { pid = pid, host = host, alive = true, since = m.mtime, shared = false }
    describe(e, pid)
    holders[i] = e
  end
  if #holders == 0 then return nil end
  local info = summary("soft", holders, { stale = m.stale, malformed = true, since = m.mtime })
  info.alive = true
  return info
end

-- Who holds the lock at `path`, or nil when nobody does (also for a missing file); nil,
-- message, code when it cannot be told (no descriptor left, a marker it may not read).
function M.holder(path, opts)
  local kind = check(path, opts)
  if path:match("^etcds?://") then
    -- the value stored under the holder's key says who it is (lua/baton/kind/etcd.lua)
    return require("baton.kind.etcd").holder(path)
  end
  if kind == "flock" then return flock_holder(path) end
  if kind == "soft" then return soft_holder(path, true) end
  -- The kernel's table first: a holder it lists holds the lock, whatever the file says.
  -- Then a marker that names its owner, then one a process keeps open to hold it.
  local kinfo, kmsg, kcode = kernel_holder(path)
  if kinfo then return kinfo end
  local info, msg, code = soft_holder(path, false)
  if info then return info end
  info = written_marker(path)
  if info then return info end
  return nil, kmsg or msg, kcode or code
end

return M
