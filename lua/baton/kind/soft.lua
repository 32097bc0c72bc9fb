-- The soft kind: a marker file created with O_EXCL that names its owner.
-- The marker holds its owner in Python filelock's format ("pid\nhost\nstart-token\n"). A
-- marker whose owner is provably gone is broken and taken over; see doc/soft.md. The
-- handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local soft = core.soft
local summary = holders.summary

local function positive(v)
  if type(v) ~= "number" then return "must be a number of seconds, got " .. type(v) end
  if v ~= v or v <= 0 or v == math.huge then return "must be a positive number of seconds" end
end
local function flag(v)
  if type(v) ~= "boolean" then return "must be a boolean, got " .. type(v) end
end

local M = {
  name = "soft",
  noun = "soft locks",
  -- beyond the wait's options (lua/baton/options.lua); a function is the check of the value
  options = { mode = true, mkdir = true, stale_after = true, on_lost = true,
    lease = positive, heartbeat = positive, strict = flag },
  why = { shared = ", which are exclusive" },
}

-- A soft lease (filelock's SoftFileLease) around the C handle: on_lost runs once, at the
-- next call into any lease of this Lua state after its heartbeat found the lease lost (the
-- C handle's lostfd() is readable at once), as for etcd locks.
local Lease = {}
Lease.__index = Lease

local losses = require("baton.lock").loss_watch(function(h, msg, reason)
  return { path = h.path, message = msg, reason = reason, lease = h.lease }
end)
local check_leases = losses.check
M.check = check_leases

function Lease:try() return losses.try(self) end

function Lease:wait(seconds)
  check_leases()
  return self._c:wait(seconds)
end

function Lease:held()
  check_leases()
  return self._c:held()
end

function Lease:pollfd() return self._c:pollfd() end
function Lease:lostfd() return self._c:lostfd() end
function Lease:record(note) return self._c:record(note) end

-- Nothing, or nil, message, "lost" when the lease was lost while held.
function Lease:release()
  local msg, reason = self._c:lost()
  local was_held = losses.was_held(self)
  self._c:release()
  return losses.released(self, was_held, msg, reason)
end

function Lease:__tostring() return tostring(self._c) end

local function refuse(fname, path, msg)
  error(string.format("%s: %s (lock '%s')", fname or "baton", msg, path), 5)
end

function M.open(path, o, fname)
  -- 0644 unless told otherwise: others need to read a marker, never to write it
  local mode = options.mode(o, 420)
  if o.strict then
    for _, k in ipairs({ "lease", "heartbeat", "on_lost", "stale_after" }) do
      if o[k] ~= nil then
        refuse(fname, path, "option '" .. k .. "' does not apply to strict soft locks, "
          .. "which nothing but an operator's break (baton.break_lock) takes from their holder")
      end
    end
    return core.soft_strict(path, mode, o.mkdir ~= false)
  end
  local lease = o.lease
  if lease == nil then
    for _, k in ipairs({ "heartbeat", "on_lost" }) do
      if o[k] ~= nil then refuse(fname, path, "option '" .. k
        .. "' does not apply to soft locks without the option 'lease'") end
    end
    return soft(path, mode, o.mkdir ~= false, o.stale_after)
  end
  if o.stale_after ~= nil then
    refuse(fname, path, "option 'stale_after' does not apply to a lease, whose marker is stale "
      .. "once it is 'lease' seconds old")
  end
  local every = o.heartbeat or lease / 3
  if every >= lease then
    refuse(fname, path, string.format("option 'heartbeat' (%g s) must be shorter than the "
      .. "lease (%g s)", every, lease))
  end
  return setmetatable({ _c = soft(path, mode, o.mkdir ~= false, nil, lease, every),
    path = path, lease = lease, _on_lost = o.on_lost }, Lease)
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

-- The sentinel of a strict soft lock: its holder is the claimant of its held claim (the
-- claims only intending to hold it are listed too, as holders[2..]).
local function strict_holder(path, m)
    local claims, msg, code = core.strict_claims(path)
    if claims == nil and msg then return nil, msg, code end
    claims = claims or {}
    table.sort(claims, function(a, b)
      if a.state ~= b.state then return a.state == "held" end
      return a.name < b.name
    end)
    if #claims == 0 then return nil end -- the sentinel stays; nobody holds the lock
    local host = core.hostname()
    local list = {}
    for i, c in ipairs(claims) do
      local e = { pid = c.pid, host = c.host, since = c.since, shared = false, claim = c.name,
        state = c.state, token = c.start }
      if c.pid and c.host == host then
        local p = core.process(c.pid)
        e.alive = p ~= nil and not p.zombie and (c.start == nil or p.token == nil or p.token == c.start)
        if e.alive then
          holders.describe(e, c.pid)
          holders.add_record(e, c.pid, path)
        end
      end
      list[i] = e
    end
    return summary("soft", list, { strict = true, stale = false, since = list[1].since,
      uid = m.uid, user = m.user })
end

-- A marker that names its owner.
local function named_marker(path, m)
  if m.believed == false then return forged_marker(m) end
  local e = { pid = m.pid, host = m.host, token = m.token, alive = m.alive, since = m.mtime,
    shared = false }
  if m.lease then
    -- a lease is taken once its marker is `lease` old, whoever holds it
    e.lease, e.expires = m.lease, m.mtime + m.lease
  end
  if m.this_host and m.alive then
    holders.describe(e, m.pid)
    holders.add_record(e, m.pid, path)
  end
  return summary("soft", { e }, { token = m.token, stale = m.stale, lease = e.lease,
    expires = e.expires })
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
  if m.strict then return strict_holder(path, m) end
  if m.named then return named_marker(path, m) end
  if asked then return ownerless_marker(path, m) end
  return written_marker(path, m)
end

-- An operator's break (filelock's force_break): remove the marker or the strict claims at
-- `path` whoever holds them. Returns who held it (as baton.holder says), or nil, message,
-- code when there is nothing to break or it cannot be broken.
function M.break_lock(path)
  local m, msg, code = core.marker(path)
  if not m and msg then return nil, msg, code end
  local info = m and M.holder(path, true)
  if not info then
    return nil, string.format("baton.break_lock: nobody holds a soft lock at '%s': nothing to "
      .. "break", path), "ENOENT"
  end
  if m.strict then
    local n, emsg, ecode = core.strict_break(path)
    if not n then return nil, emsg, ecode end
    return info
  end
  if not m.named then
    return nil, string.format("baton.break_lock: '%s' holds no marker that names a holder (%s): "
      .. "it is left alone", path, m.foreign and "it holds other data" or "it is empty"),
      "EEXIST"
  end
  local ok, emsg, ecode = core.soft_break(path)
  if not ok then return nil, emsg, ecode end
  return info
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
