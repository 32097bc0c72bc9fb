-- Real peers for the specs: processes started in the background that hold locks, and small
-- tools to wait for them, signal them and read what they left behind.
local baton = require "baton"

local H = {}

H.LUA = os.getenv("BATON_TEST_LUA") or "lua5.4"
H.PYTHON = "/usr/bin/python3"
H.is54 = _VERSION == "Lua 5.4"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.quote = sh_quote

-- A fresh empty folder, removed by H.cleanup().
local made = {}
function H.tmpdir()
  local f = assert(io.popen("mktemp -d /tmp/baton-spec.XXXXXX"))
  local dir = f:read("*l")
  f:close()
  made[#made + 1] = dir
  return dir
end

-- Every process H.spawn started leads a process group of its own (setsid), so that cleanup
-- can stop it with whatever it started in turn.
local spawned = {}

function H.cleanup()
  for _, pid in ipairs(spawned) do os.execute("kill -KILL -" .. pid .. " 2>/dev/null") end
  spawned = {}
  for _, dir in ipairs(made) do os.execute("rm -rf " .. sh_quote(dir)) end
  made = {}
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function H.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Run a shell command line in the background; returns its pid.
function H.spawn(cmdline)
  -- exec, so that the pid is the command's own (a list of commands: wrap it in sh -c)
  if not (cmdline:match("^exec ") or cmdline:match("^[%w_]+=")) then cmdline = "exec " .. cmdline end
  local f = assert(io.popen("setsid sh -c " .. sh_quote(cmdline)
    .. " >/dev/null 2>&1 </dev/null & echo $!"))
  local pid = tonumber(f:read("*l"))
  f:close()
  spawned[#spawned + 1] = pid
  return pid
end

-- Run a shell command line to completion; returns its exit code and output.
function H.run(cmdline)
  local f = assert(io.popen(cmdline .. " 2>&1; echo \"exit:$?\""))
  local out = f:read("*a")
  f:close()
  local code = tonumber(out:match("exit:(%d+)%s*$"))
  return code, (out:gsub("exit:%d+%s*$", ""))
end

-- Run a shell command that must succeed; its output (stdout and stderr).
function H.run_ok(cmdline)
  local code, out = H.run(cmdline)
  assert(code == 0, cmdline .. ": " .. out)
  return out
end

-- The names in folder `dir` (`ls -A`, one a line), as a string.
function H.listing(dir)
  return H.run_ok("ls -A " .. sh_quote(dir))
end

-- True while the process exists and is not a zombie.
function H.alive(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  if not stat then return false end
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

function H.kill(pid, sig)
  os.execute("kill -" .. (sig or "TERM") .. " " .. pid .. " 2>/dev/null")
end

-- Wait until fn() is true (polling every 10 ms); error after `timeout` seconds.
function H.wait_for(fn, timeout, what)
  local deadline = baton.now() + (timeout or 10)
  while baton.now() < deadline do
    if fn() then return true end
    baton.sleep(0.01)
  end
  error("timed out waiting for " .. (what or "a condition"), 2)
end

function H.wait_file(path, timeout)
  H.wait_for(function() return H.read(path) ~= nil end, timeout, "file " .. path)
end

-- A Lua script file for child processes; `code` sees `arg` as usual.
function H.script(code)
  local dir = H.tmpdir()
  local path = dir .. "/child.lua"
  H.write(path, code)
  return path
end

-- Command line running a Lua child with the same interpreter and module paths.
function H.lua_cmd(script, ...)
  local parts = { H.LUA, sh_quote(script) }
  for _, a in ipairs({ ... }) do parts[#parts + 1] = sh_quote(a) end
  return table.concat(parts, " ")
end

-- A process that holds `path` (kind per opts: "shared") for `seconds`, writing `ready` once
-- it holds it. Returns its pid.
local HOLDER = [[
local baton = require "baton"
local path, ready, seconds, shared = arg[1], arg[2], tonumber(arg[3]), arg[4] == "shared"
local l = baton.lock(path, { shared = shared })
local f = assert(io.open(ready, "w")); f:write("held"); f:close()
baton.sleep(seconds)
l:release()
]]
function H.lua_holder(path, seconds, shared)
  local holder_script = H.script(HOLDER)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(holder_script, path, ready, seconds or 30, shared and "shared" or ""))
  H.wait_file(ready)
  return pid
end

-- flock(1) holding `path` for `seconds` (mode "-x" or "-s").
function H.flock_holder(path, seconds, mode)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(string.format("flock -o %s %s sh -c %s", mode or "-x", sh_quote(path),
    sh_quote("echo held > " .. sh_quote(ready) .. "; exec sleep " .. (seconds or 30))))
  H.wait_file(ready)
  return pid
end

-- Python filelock (Debian's python3-filelock) holding `path` for `seconds`.
function H.python_holder(path, seconds)
  local ready = H.tmpdir() .. "/ready"
  local code = string.format([[
import filelock, time
l = filelock.FileLock(%q)
l.acquire()
open(%q, "w").write("held")
time.sleep(%s)
l.release()
]], path, ready, seconds or 30)
  local pid = H.spawn(H.PYTHON .. " -c " .. sh_quote(code))
  H.wait_file(ready)
  return pid
end

-- Call fn(...), which must raise a string containing `pattern` (plainly); returns it.
function H.raises(pattern, fn, ...)
  local check = require "luassert"
  local ok, err = pcall(fn, ...)
  check.is_false(ok, "expected an error matching " .. pattern)
  check.is_string(err)
  check.matches(pattern, err, 1, true)
  return err
end

-- Run 5.4-only code (to-be-closed variables) so that older parsers can load the spec file.
function H.run54(code, ...)
  local chunk = assert((loadstring or load)(code))
  return chunk(...)
end

return H
