-- The etcd kind: locks on an etcd cluster, etcd://HOST:PORT[,HOST:PORT...]/NAME.
-- The same lock as `etcdctl lock NAME` on that cluster. The C side (baton.etcd_core, built
-- where libcurl and jansson are available) keeps a lease alive from a thread of its own; this
-- file adds the options, TLS and users, the fencing token and `on_lost`. See doc/etcd.md.
-- baton.etcd_core (and libcurl with it) is loaded by the first etcd lock or holder query,
-- so that a program that never names an etcd:// path never pays for it.
local has_core, core

local function load_core()
  if has_core == nil then has_core, core = pcall(require, "baton.etcd_core") end
  return has_core
end

local M = {}

local function of_string(v)
  if type(v) ~= "string" then return "must be a string, got " .. type(v) end
end

M.DEFAULT_TTL = 10
-- A wait without a deadline still returns to Lua this often (signals, hooks).
M.BLOCK_STEP = 0.5

local Handle = {}
Handle.__index = Handle

-- on_lost: run once, at the next call into any etcd lock of this Lua state after the lease
-- was lost (any call is a chance to learn of a loss), or at the lock's release.
local losses = require("baton.lock").loss_watch(function(h, msg)
  return { path = h.path, token = h._token, message = msg }
end)
local check_all = losses.check
M.check = check_all

function Handle:try()
  local ok, msg, code = losses.try(self)
  if ok then self._token = self._c:token() end
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

-- While held: our key, the cluster's revision when the lock became ours (etcdctl's
-- ETCD_LOCK_REV), and the lease id in hex.
function Handle:held_as()
  return self._c:held_as()
end

function Handle:held()
  check_all()
  return self._c:held()
end

-- Give back the lock or the place in its queue. Returns nothing, or nil, message, "lost"
-- when the lock had been lost while held (on_lost runs first, if it has not yet).
function Handle:release()
  local was_held = losses.was_held(self)
  local msg = self._c:release()
  self._token = nil
  return losses.released(self, was_held, msg)
end

function Handle:__tostring()
  return tostring(self._c)
end

-- Misuse: named after the function that was called (`fname`, "baton.lock"), at its caller.
local function fail(path, why, fname)
  error(string.format("%s: bad etcd lock path '%s': %s", fname or "baton", path, why), 5)
end

local function text(v)
  if type(v) ~= "string" then return "must be a string, got " .. type(v) end
  if v == "" then return "must not be empty" end
end
local function flag(v)
  if type(v) ~= "boolean" then return "must be a boolean, got " .. type(v) end
end

M.name = "etcd"
M.noun = "etcd locks"
M.schemes = { "etcd", "etcds" }
M.files = false -- nothing to look at on this host
-- beyond the wait's options (lua/baton/options.lua); a function is the check of the value
M.options = { shared = true, ttl = true, on_lost = true,
  cacert = text, cert = text, key = text, insecure = flag, user = text, password = of_string }
M.why = { mode = ", which have no file", mkdir = ", which have no file" }

-- etcdctl's boolean flags (Go's strconv.ParseBool), for ETCDCTL_INSECURE_SKIP_TLS_VERIFY.
local BOOL = { ["1"] = true, t = true, T = true, TRUE = true, ["true"] = true, True = true,
  ["0"] = false, f = false, F = false, FALSE = false, ["false"] = false, False = false }

local function getenv(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

-- The endpoints of a path written without any (etcd:///NAME, etcds:///NAME) from
-- ETCDCTL_ENDPOINTS, whose entries may carry a scheme ("https://10.0.0.5:2379"): the
-- path as the C side takes it, or nil, why.
local function with_endpoints(path)
  local scheme, name = path:match("^(etcds?):///(.*)$")
  if not scheme then return path end
  local list = getenv("ETCDCTL_ENDPOINTS")
  if not list then
    return nil, "no endpoints in the path, and ETCDCTL_ENDPOINTS is not set"
  end
  local eps, tls, plain = {}, false, false
  for entry in (list .. ","):gmatch("([^,]*),") do
    entry = entry:match("^%s*(.-)%s*$")
    local s, rest = entry:match("^(%a+)://(.*)$")
    if s == "https" then tls = true elseif s == "http" then plain = true
    elseif s then return nil, "ETCDCTL_ENDPOINTS entry '" .. entry .. "' is not http:// or https://" end
    eps[#eps + 1] = ((rest or entry):gsub("/+$", ""))
  end
  if tls and plain then
    return nil, "ETCDCTL_ENDPOINTS mixes http:// and https:// endpoints"
  end
  if plain and scheme == "etcds" then
    return nil, "etcds:/// asks for TLS, but ETCDCTL_ENDPOINTS names http:// endpoints"
  end
  return ((tls or scheme == "etcds") and "etcds" or "etcd") .. "://" .. table.concat(eps, ",")
    .. "/" .. name
end

-- How to reach the cluster: options first, then the variables etcdctl reads. Returns the
-- path with its endpoints and the settings for the C side, or nil, why.
function M.connection(path, o)
  o = o or {}
  local full, why = with_endpoints(path)
  if not full then return nil, why end
  local tls = full:sub(1, 8) == "etcds://"
  local c = { cacert = o.cacert, cert = o.cert, key = o.key, insecure = o.insecure }
  if tls then -- the certificate variables serve TLS paths only, as a shell sets them for all
    c.cacert = c.cacert or getenv("ETCDCTL_CACERT")
    if not c.cert and not c.key then
      c.cert, c.key = getenv("ETCDCTL_CERT"), getenv("ETCDCTL_KEY")
    end
    if c.insecure == nil and getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY") then
      local v = getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY")
      c.insecure = BOOL[v]
      if c.insecure == nil then
        return nil, "ETCDCTL_INSECURE_SKIP_TLS_VERIFY must be true or false, got '" .. v .. "'"
      end
    end
  end
  local user, password = o.user, o.password
  if not user then
    user, password = getenv("ETCDCTL_USER"), password or os.getenv("ETCDCTL_PASSWORD")
  end
  if user and password == nil then
    local name, pw = user:match("^([^:]*):(.*)$") -- "name:password", as etcdctl's --user
    if not name then
      return nil, "user '" .. user .. "' has no password (give it as 'name:password', or "
        .. "the password option, or ETCDCTL_PASSWORD)"
    end
    user, password = name, pw
  end
  c.user, c.password = user, password
  return full, c
end

local function no_core()
  return "baton: etcd locks need the module baton.etcd_core, which is not installed: build "
    .. "baton where libcurl and jansson are available (make ETCD=1): "
    .. tostring(core):match("^[^\n]*")
end

function M.open(path, o, fname)
  if not load_core() then error(no_core(), 4) end
  local full, conf = M.connection(path, o)
  if not full then fail(path, conf, fname) end
  local c, why = core.open(full, o.ttl or M.DEFAULT_TTL, o.shared or false, o.note, conf)
  if not c then fail(path, why, fname) end
  return setmetatable({ _c = c, path = path, _on_lost = o.on_lost }, Handle)
end

-- Who holds the lock at `path`: { kind = "etcd", host, pid, note, since, token, shared, key,
-- lease, queued, value, revision, holders } from the record the holder stored, nil when
-- nobody holds it, or nil, message, code when etcd cannot be asked. `o`: the connection's
-- options (baton.holder, which asks every kind, passes none).
function M.holder(path, o)
  if not load_core() then return nil, no_core(), "ENOSYS" end
  local full, conf = M.connection(path, type(o) == "table" and o or nil)
  if not full then
    return nil, string.format("baton: bad etcd lock path '%s': %s", path, conf), "EINVAL"
  end
  local info, msg, code = core.holder(full, conf)
  if not info then return nil, msg, code end
  info.kind = info.kind or "etcd"
  if info.holders == nil then
    info.holders = { { pid = info.pid, host = info.host, shared = info.shared or false } }
  end
  return info
end

return M
