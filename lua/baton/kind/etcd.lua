-- The etcd kind: locks on an etcd cluster, etcd://HOST:PORT[,HOST:PORT...]/NAME.
-- The same lock as `etcdctl lock NAME` on that cluster. The C side (baton.etcd_core, built where libcurl and
-- jansson are available) keeps a lease alive from a thread of its own; this file adds the
-- options, the fencing token and the `on_lost` callback. See doc/etcd.md.
local has_core, core = pcall(require, "baton.etcd_core")

local M = {}

M.DEFAULT_TTL = 10
-- A wait without a deadline still returns to Lua this often (signals, hooks).
M.BLOCK_STEP = 0.5

-- Handles that hold a lock whose loss was not reported yet (weak: a collected handle is
-- released by its __gc and has nobody left to tell).
local holding = setmetatable({}, { __mode = "k" })

local Handle = {}
Handle.__index = Handle

-- Tell the handle's owner, once, that its lock was lost.
local function report(h, msg)
  holding[h] = nil
  if h._told then return end
  h._told = true
  if h._on_lost then h._on_lost({ path = h.path, token = h._token, message = msg }) end
end

-- Run the on_lost callbacks that are due, for every etcd lock this Lua state holds: any
-- call into an etcd lock is a chance to learn of a loss. A callback's error propagates.
local function check_all()
  local lost
  for h in pairs(holding) do
    local msg = h._c:lost()
    if msg then
      lost = lost or {}
      lost[#lost + 1] = { h, msg }
    end
  end
  if lost then
    for _, e in ipairs(lost) do report(e[1], e[2]) end
  end
end
M.check = check_all

function Handle:try()
  check_all()
  local ok, msg, code = self._c:try()
  if ok then
    self._token, self._told = self._c:token(), false
    holding[self] = true
  end
  return ok, msg, code
end

-- A wait without a deadline: in steps, so that Lua gets control back now and then.
function Handle:block()
  local ok, msg, code = self:try()
  if ok or code ~= "busy" then return ok, msg, code end
  self._c:wait(M.BLOCK_STEP)
  return self:try()
end

function Handle:wait(seconds)
  check_all()
  return self._c:wait(seconds)
end

function Handle:pollfd()
  return self._c:pollfd()
end

-- Readable once a held lock is lost: for an event loop (or a host running a command) to
-- act at once instead of at the next call.
function Handle:lostfd()
  return self._c:lostfd()
end

function Handle:token()
  return self._token
end

function Handle:held()
  check_all()
  return self._c:held()
end

-- Give back the lock or the place in its queue. Returns nothing, or nil, message, "lost"
-- when the lock had been lost while held (on_lost runs first, if it has not yet).
function Handle:release()
  local was_held = holding[self] ~= nil or self._told
  local msg = self._c:release()
  holding[self] = nil
  self._token = nil
  if msg and was_held then
    report(self, msg)
    return nil, msg, "lost"
  end
end

function Handle:__tostring()
  return tostring(self._c)
end

-- Misuse: named after the function that was called (`fname`, "baton.lock"), at its caller.
local function fail(path, why, fname)
  error(string.format("%s: bad etcd lock path '%s': %s", fname or "baton", path, why), 5)
end

M.name = "etcd"
M.noun = "etcd locks"
M.schemes = { "etcd", "etcds" }
M.files = false -- nothing to look at on this host
-- beyond the wait's options (lua/baton/options.lua)
M.options = { shared = true, ttl = true, on_lost = true }
M.why = { mode = ", which have no file", mkdir = ", which have no file" }

function M.open(path, o, fname)
  if not has_core then
    error("baton: etcd locks need the module baton.etcd_core, which is not installed: build "
      .. "baton where libcurl and jansson are available (make ETCD=1): "
      .. tostring(core):match("^[^\n]*"), 4)
  end
  local c, why = core.open(path, o.ttl or M.DEFAULT_TTL, o.shared or false, o.note)
  if not c then fail(path, why, fname) end
  return setmetatable({ _c = c, path = path, _on_lost = o.on_lost }, Handle)
end

-- Who holds the lock at `path`: { kind = "etcd", host, pid, note, since, token, shared, key,
-- lease, queued, holders } from the record the holder stored, nil when nobody holds it, or
-- nil, message, code when etcd cannot be asked.
function M.holder(path)
  if not has_core then
    return nil, "baton: etcd locks need the module baton.etcd_core, which is not installed",
      "ENOSYS"
  end
  local info, msg, code = core.holder(path)
  if not info then return nil, msg, code end
  info.kind = info.kind or "etcd"
  if info.holders == nil then
    info.holders = { { pid = info.pid, host = info.host, shared = info.shared or false } }
  end
  return info
end

return M
