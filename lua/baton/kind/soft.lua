-- The soft kind: a marker file created with O_EXCL that names its owner.
-- The marker holds its owner in Python filelock's format ("pid\nhost\nstart-token\n"). A
-- marker whose owner is provably gone is broken and taken over; see doc/soft.md. The
-- handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local soft = core.soft
local summary = holders.summary

local M = {
  name = "soft",
  noun = "soft locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { mode = true, mkdir = true, stale_after = true },
  why = { shared = ", which are exclusive" },
}

function M.open(path, o)
  -- 0644 unless told otherwise: others need to read a marker, never to write it
  return soft(path, options.mode(o, 420), o.mkdir ~= false, o.stale_after)
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
    holders.describe(e, m.pid)
    holders.add_record(e, m.pid, path)
  end
  return summary("soft", { e }, { token = m.token, stale = m.stale })
end

-- A marker that names nobody (filelock 3.9 leaves it empty), asked for as a soft lock:
-- whoever keeps it open holds it, as far as this process can see.
local function ownerless_marker(path, m)
  local list = holders.process_entries(core.openers(path), m.mtime)
  local alive = nil
  if #list > 0 then alive = true elseif m.stale then alive = false end
  local info = summary("soft", list, { stale = m.stale, malformed = true, since = m.mtime,
    foreign = m.foreign or nil, uid = m.uid, user = m.user })
  info.alive = alive
  return info
end

-- An empty marker, kept open for writing only by a process (as filelock 3.9's
-- SoftFileLock keeps its empty marker while it holds the lock): a soft lock, even when the
-- soft kind was not asked for. Lock files for flock or SQLite are never open that way. Any
-- other file that names nobody is no evidence of a soft lock.
local function written_marker(path, m)
  -- filelock 3.9 writes nothing into it; only then is /proc walked to find its holder
  if m.size ~= 0 then return nil end
  local list = holders.process_entries(core.openers(path, true), m.mtime)
  if #list == 0 then return nil end
  local info = summary("soft", list, { stale = m.stale, malformed = true, since = m.mtime })
  info.alive = true
  return info
end

-- After the kernel's table (flock's and rw's probes): a holder it lists wins over any file
-- content that looks like a marker.
M.probe = 30
function M.holder(path, asked)
  local m, msg, code = core.marker(path)
  if not m then return nil, msg, code end -- no marker, or (with msg) one that cannot be read
  if m.named then return named_marker(path, m) end
  if asked then return ownerless_marker(path, m) end
  return written_marker(path, m)
end

local function own_pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local pid = tonumber((f:read("*l") or ""):match("^(%d+)"))
  f:close()
  return pid
end

-- A soft lock this process holds through another object: the marker names this process.
function M.here(path)
  local fine, info = pcall(M.holder, path, true)
  if fine and type(info) == "table" and info.pid ~= nil and info.alive
      and info.pid == own_pid() then
    return "this process, through another lock object"
  end
  return nil
end

return M
