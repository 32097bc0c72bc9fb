-- Leader elections on etcd, with etcd's own election recipe (the one `etcdctl elect` uses, so
-- the two see each other): every candidate puts a key NAME/<lease id in hex> holding its
-- value under its lease; the key with the lowest create revision leads; a proclamation
-- replaces the leader's value; resigning deletes the key. A campaign is an etcd lock whose
-- key holds the candidate's value, so it waits as locks wait (timeout, sleep, cancel) and is
-- lost as locks are lost (on_lost, lostfd). See doc/etcd.md.
local lock = require "baton.lock"
local options = require "baton.options"

local M = {}

local Leadership = {}
Leadership.__index = Leadership

local function check_url(url, fname)
  options.check_path(url, fname, 4)
  if not url:match("^etcds?://") then
    error(string.format("%s: an election lives on etcd: expected etcd://HOST:PORT/NAME or "
      .. "etcds://..., got '%s'", fname, url), 4)
  end
end

-- Campaign for leadership of the election at `url` with `value`: a leadership object, or
-- (with raise false) nil, message, code.
function M.campaign(url, value, opts, fname, raise)
  check_url(url, fname)
  if type(value) ~= "string" then
    error(string.format("%s: the value must be a string, got %s", fname, type(value)), 3)
  end
  local o = { kind = "etcd" }
  if opts ~= nil then
    if type(opts) ~= "table" then
      options.misuse(3, fname, url, "options must be a table, got " .. type(opts))
    end
    for k, v in pairs(opts) do o[k] = v end
    if o.shared then options.misuse(3, fname, url, "an election has no shared candidates") end
    if o.kind ~= "etcd" then
      options.misuse(3, fname, url, "option 'kind' must be \"etcd\" here, got " .. tostring(o.kind))
    end
  end
  if o.timeout == nil then o.timeout = -1 end -- a campaign waits, as baton.lock does
  local l = lock.new(url, o, fname, 3)
  l._h._c:set_value(value)
  local got, msg, code = lock.acquire_new(l, false, 2)
  if not got then
    if raise then error(msg, 3) end
    return nil, msg, code
  end
  local key, rev, lease = l._h._c:held_as()
  return setmetatable({ path = url, value = value, token = l.token, key = key, rev = rev,
    lease = lease, _l = l }, Leadership)
end

-- Still the leader: the key is ours and its lease certainly alive.
function Leadership:is_leader()
  return self._l:is_locked()
end

-- Replace the value observers see. true, or nil, message, code ("lost" when no longer
-- the leader).
function Leadership:proclaim(value)
  if type(value) ~= "string" then
    error(string.format("leadership:proclaim: the value must be a string, got %s (election "
      .. "'%s')", type(value), self.path), 2)
  end
  if not self._l:is_locked() then
    return nil, string.format("baton: cannot proclaim on '%s': not the leader", self.path), "lost"
  end
  local ok, msg, code = self._l._h._c:proclaim(value)
  if ok then self.value = value end
  return ok, msg, code
end

-- Give up leadership (the key goes; the next candidate leads). true, or nil, message,
-- "lost" when leadership had been lost before. Idempotent.
function Leadership:resign()
  local l = self._l
  if l:count() == 0 then return true end
  self.token = nil
  return l:release({ force = true })
end

function Leadership:__close()
  self:resign()
end

function Leadership:lostfd()
  return self._l:lostfd()
end

function Leadership:__tostring()
  return string.format("baton.leadership('%s', %s)", self.path,
    self._l:count() > 0 and ("leader, token " .. tostring(self.token)) or "resigned")
end

-- The current leader of the election at `url`: { value, key, rev, lease }, nil when there
-- is none, or nil, message, code when etcd cannot be asked. `opts`: connection options.
function M.leader(url, opts)
  check_url(url, "baton.leader")
  local h, msg, code = require("baton.kind.etcd").holder(url, opts)
  if not h then
    if msg then return nil, msg, code end
    return nil
  end
  return { value = h.value or "", key = h.key, rev = h.token, lease = h.lease }
end

return M
