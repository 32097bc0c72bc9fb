-- nginx with the lua module (LuaJIT), for the specs that run baton inside it: whether it is
-- installed, a free port, an nginx.conf around a spec's locations, and a server started in
-- a folder of its own and stopped again.
local H = require "helpers"

local N = {}

N.ROOT = os.getenv("BATON_ROOT") or "."
N.MODULES = "/usr/lib/nginx/modules"
N.MISSING = "needs nginx-light, libnginx-mod-http-lua, make LUA=luajit"

-- nginx, its lua module and baton built for LuaJIT are all there.
function N.available()
  return (H.run("command -v nginx")) == 0 and H.read(N.MODULES .. "/ngx_http_lua_module.so")
    and H.read(N.ROOT .. "/build/luajit/baton/core.so") and true or false
end

function N.free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

local CONF = [[
load_module %s/ndk_http_module.so;
load_module %s/ngx_http_lua_module.so;
worker_processes %d;
user root root;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path %s/tmp;
  lua_package_path "%s%s/lua/?.lua;%s/lua/?/init.lua;;";
  lua_package_cpath "%s/build/luajit/?.so;;";
  server {
    listen 127.0.0.1:%d;
%s
  }
}
]]

-- An nginx.conf for a server kept in `dir`: `workers` worker processes listening on `port`,
-- baton from this tree (after the `path` entries, e.g. "DIR/?.lua;"), and `locations`, the
-- text of the server's location blocks.
function N.conf(dir, workers, port, locations, path)
  local root, m = N.ROOT, N.MODULES
  return string.format(CONF, m, m, workers, dir, dir, dir, path or "", root, root, root, port,
    locations)
end

-- Once nginx writes its pid to `pidfile`: the master's pid, when `url` answers.
function N.wait_up(pidfile, url)
  H.wait_file(pidfile)
  local pid = tonumber(H.read(pidfile))
  H.wait_for(function() return (H.run("curl -sf " .. url)) == 0 end)
  return pid
end

-- Start nginx in `dir` on the configuration text `conf` (N.conf), listening on `port`: the
-- master's pid once `ping` (a path, "/ping" by default) answers.
function N.start(dir, conf, port, ping)
  os.execute("mkdir -p " .. dir .. "/tmp")
  H.write(dir .. "/nginx.conf", conf)
  -- its own output to a file: a daemon must not hold our pipe open
  local code = H.run(string.format("nginx -p %s -c %s/nginx.conf </dev/null >%s/start.log 2>&1",
    dir, dir, dir))
  assert(code == 0, H.read(dir .. "/start.log"))
  return N.wait_up(dir .. "/nginx.pid", "http://127.0.0.1:" .. port .. (ping or "/ping"))
end

-- Stop the server whose master is `pid` (nil: none was started) and wait until it is gone.
function N.stop(pid)
  if pid then H.kill(pid, "QUIT") end
  H.wait_for(function() return not pid or not H.alive(pid) end, 10, "nginx to stop")
end

return N
