-- etcd servers with TLS and user authentication for the specs, on loopback, with
-- certificates made by openssl in a temporary folder: a CA, a server certificate for
-- 127.0.0.1, a client certificate, and a second CA nobody trusts. Everything started here is
-- stopped (and its folder removed) by S.stop_all.
local H = require "helpers"
local E = require "helpers.etcd"

local S = {}

local folders, pids = {}, {}

local function folder()
  return E.folder("baton-etcds", folders)
end

local function sh(cmd)
  local code, out = H.run("{ " .. cmd .. "; }") -- all of it quiet, not only the last command
  assert(code == 0, cmd .. "\n" .. out)
  return out
end

-- Why these specs cannot run here, or nil.
function S.missing()
  return E.missing() or (H.run("command -v openssl") ~= 0 and "openssl is not installed") or nil
end

-- A CA in `dir` named `name` (name.crt, name.key).
local function make_ca(dir, name)
  sh(string.format("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
    .. "'/CN=baton spec %s' -keyout %s.key -out %s.crt", H.quote(dir), name, name, name))
end

-- A certificate `name` signed by CA `ca`, for `cn`, with the IP address SAN 127.0.0.1.
local function make_cert(dir, ca, name, cn, usage) -- cn nil: a subject without a CN
  H.write(dir .. "/" .. name .. ".ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    .. "extendedKeyUsage=" .. usage .. "\n")
  sh(string.format("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '%s' -keyout "
    .. "%s.key -out %s.csr && openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key "
    .. "-CAcreateserial -days 2 -extfile %s.ext -out %s.crt", H.quote(dir),
    cn and "/CN=" .. cn or "/O=baton spec", name, name,
    name, ca, ca, name, name))
end

-- { dir, ca, server_cert, server_key, client_cert, client_key, other_ca }: file paths.
function S.certificates()
  local dir = folder()
  make_ca(dir, "ca")
  make_ca(dir, "other")
  make_cert(dir, "ca", "server", "127.0.0.1", "serverAuth,clientAuth")
  make_cert(dir, "ca", "client", "baton-client", "clientAuth")
  -- without a CommonName: what etcd's gateway takes when authentication is on too
  make_cert(dir, "ca", "nocn", nil, "clientAuth")
  return { dir = dir, ca = dir .. "/ca.crt", other_ca = dir .. "/other.crt",
    server_cert = dir .. "/server.crt", server_key = dir .. "/server.key",
    client_cert = dir .. "/client.crt", client_key = dir .. "/client.key",
    nocn_cert = dir .. "/nocn.crt", nocn_key = dir .. "/nocn.key" }
end

-- Start one member: opts.certs (TLS on the client port, with client certificates required
-- when opts.client_auth), opts.token_ttl (simple auth tokens of that many seconds). Returns
-- { endpoint, pid, dir, scheme }.
function S.start(opts)
  opts = opts or {}
  local dir = folder()
  local ports = E.free_ports(2)
  local ep, peer = "127.0.0.1:" .. ports[1], "127.0.0.1:" .. ports[2]
  local scheme = opts.certs and "https" or "http"
  local args = { E.ETCD, "--name", "s", "--data-dir", H.quote(dir .. "/data"),
    "--listen-client-urls", scheme .. "://" .. ep, "--advertise-client-urls", scheme .. "://" .. ep,
    "--listen-peer-urls", "http://" .. peer, "--initial-advertise-peer-urls", "http://" .. peer,
    "--initial-cluster", "s=http://" .. peer, "--heartbeat-interval", "50",
    "--election-timeout", "500" }
  local c = opts.certs
  if c then
    for _, a in ipairs({ "--cert-file", c.server_cert, "--key-file", c.server_key }) do
      args[#args + 1] = a
    end
    if opts.client_auth then
      for _, a in ipairs({ "--client-cert-auth", "--trusted-ca-file", c.ca }) do args[#args + 1] = a end
    end
  end
  if opts.token_ttl then
    args[#args + 1] = "--auth-token simple --auth-token-ttl " .. opts.token_ttl
  end
  local f = assert(io.popen(table.concat(args, " ") .. " >>" .. H.quote(dir .. "/log")
    .. " 2>&1 </dev/null & echo $!"))
  local m = { endpoint = ep, pid = tonumber(f:read("*l")), dir = dir, scheme = scheme }
  f:close()
  pids[#pids + 1] = m
  H.wait_for(function() return S.ctl(m, opts, "endpoint health") == 0 end, 20, "etcd to answer")
  return m
end

-- Flags for etcdctl to reach member `m` started with `opts` (with `user` "name:pw" if given).
function S.flags(m, opts, user)
  local t = { "--endpoints=" .. m.scheme .. "://" .. m.endpoint, "--command-timeout=3s" }
  local c = opts and opts.certs
  if c then
    t[#t + 1] = "--cacert=" .. H.quote(c.ca)
    if opts.client_auth then
      t[#t + 1] = "--cert=" .. H.quote(c.client_cert)
      t[#t + 1] = "--key=" .. H.quote(c.client_key)
    end
  end
  if user then t[#t + 1] = "--user=" .. H.quote(user) end
  return table.concat(t, " ")
end

-- Run etcdctl against `m`: exit code, output.
function S.ctl(m, opts, args, user)
  return H.run("ETCDCTL_API=3 " .. E.ETCDCTL .. " " .. S.flags(m, opts, user) .. " " .. args)
end

-- Turn authentication on with a root user and a user `name` allowed everything under "".
function S.enable_auth(m, opts, name, password)
  local function ok(args, user)
    local code, out = S.ctl(m, opts, args, user)
    assert(code == 0, args .. ": " .. out)
  end
  ok("user add root:rootpw")
  ok("user add " .. name .. ":" .. password)
  ok("role add rw")
  ok("role grant-permission rw --prefix=true readwrite ''")
  ok("user grant-role " .. name .. " rw")
  ok("auth enable")
end

function S.stop_all()
  for _, m in ipairs(pids) do
    if H.alive(m.pid) then
      H.kill(m.pid, "KILL")
      H.wait_for(function() return not H.alive(m.pid) end, 10, "etcd to stop")
    end
  end
  pids = {}
  for _, dir in ipairs(folders) do os.execute("rm -rf " .. H.quote(dir)) end
  folders = {}
end

return S
