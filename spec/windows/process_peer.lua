-- A peer for spec/windows/65_process.sh, run under wine as `lua.exe process_peer.lua MODE
-- HOST_PEER ...` (HOST_PEER: spec/windows/host_peer.c built): each mode uses baton.spawn,
-- baton.run or baton.jobs on Windows processes and prints what happened on one line.
--   exit                  spawn `host_peer exit 7`, wait: "7 nil"
--   wait_timeout          a wait of 0.3 s on a command that runs on: the code and seconds
--   kill                  kill a running command: wait's status and signal, and whether it
--                         still runs after
--   argv                  baton.run's captured stdout of `host_peer argv` with awkward
--                         arguments, newlines as "|"
--   run_timeout           baton.run with timeout = 0.5 on a command that runs on: its code
--   missing               baton.spawn of no such program: its code
--   input                 baton.run feeding a Lua child on stdin (2 MB, and a short text)
--   env_cwd LUA DIR       a child's environment variable set and removed, and its folder
--   files LUA OUT         stdout into a file, stderr merged into it, stdin from NUL
--   jobs                  three jobs each running a 1.5 s command at once: their statuses
--                         and whether it took under 3 s in all
--   die READY [no]        spawn `host_peer hold_child READY 60` with die_with_parent (not
--                         with "no"), then wait for ever (the check kills this process)
--   shell                 shell = true: a cmd.exe line's output and exit code
--   keep_fds              keep_fds is refused with a clear message
--   gc                    a die_with_parent child whose process object is collected while it
--                         runs keeps running (until this process ends): "running"
--   sweep READY POLLED    let go of a die_with_parent child while it runs (`host_peer orphan
--                         READY`, which leaves `hold_child` in its job and ends), poll once
--                         it has ended, create POLLED, sleep 30 s starting nothing more
--   inherit PATH          a file open (io.open: an inheritable handle) while a child starts
--                         is not the child's: closed here, it can be removed at once
local baton = require "baton"

local mode, peer = arg[1], arg[2]

local function line(s) return ((s or "nil"):gsub("\r?\n", "|")) end

if mode == "exit" then
  local p = assert(baton.spawn{ peer, "exit", 7 })
  print(p:wait())
elseif mode == "wait_timeout" then
  local p = assert(baton.spawn{ peer, "sleep", 30 })
  local t0 = baton.now()
  local code, _, why = p:wait(0.3)
  print(tostring(code) .. " " .. why, string.format("%.2f", baton.now() - t0))
  p:kill("KILL")
  p:wait()
elseif mode == "kill" then
  local p = assert(baton.spawn{ peer, "sleep", 30 })
  assert(p:kill())
  local code, sig = p:wait()
  print(code, sig, p:running(), (select(3, p:kill())))
elseif mode == "argv" then
  local ok, status, out = baton.run{ peer, "argv", "a b", 'c"d', "e\\", "", 'x\\\\"y', "p\\q" }
  print(ok, status, line(out))
elseif mode == "run_timeout" then
  local t0 = baton.now()
  local ok, _, code = baton.run{ peer, "sleep", 30, timeout = 0.5 }
  print(ok, code, baton.now() - t0 < 5)
elseif mode == "missing" then
  local p, msg, code = baton.spawn{ "no-such-program-here" }
  print(p, code, msg)
elseif mode == "input" then
  local lua = arg[3]
  local big = string.rep("0123456789", 200000)
  local _, _, n = baton.run{ lua, "-e", "io.write(#io.read('a'))", input = big }
  local _, _, up = baton.run{ lua, "-e", "io.write((io.read('a'):upper()))", input = "ab\ncd\n" }
  print(n, line(up))
elseif mode == "env_cwd" then
  local lua, dir = arg[3], arg[4]
  local _, _, out = baton.run{ lua, "-e", "io.write(os.getenv('BATON_X') or '-', ' ', os.getenv('BATON_Y') or '-')",
    env = { BATON_X = "set here", BATON_Y = false } }
  local _, _, cd = baton.run{ "cmd.exe", "/c", "cd", cwd = dir }
  print(out, line(cd))
elseif mode == "files" then
  local lua, out = arg[3], arg[4]
  local ok, status = baton.run{ lua, "-e", "io.write('out ') io.stderr:write('err') io.write(io.read('a') or '?')",
    stdout = out, stderr = "stdout", stdin = "null" }
  local f = assert(io.open(out, "rb"))
  print(ok, status, f:read("a"))
  f:close()
elseif mode == "jobs" then
  local jobs = baton.jobs()
  local t0 = baton.now()
  for i = 1, 3 do
    jobs:add(function()
      local p = assert(baton.spawn{ peer, "sleep", 1.5, stdout = "null" })
      p:wait()
      local _, status = baton.run{ peer, "exit", i }
      return status
    end)
  end
  local ok = jobs:wait()
  local got = {}
  for i, j in ipairs(jobs.list) do got[i] = tostring(j.results and j.results[1]) end
  print(ok, table.concat(got, ","), baton.now() - t0 < 3)
elseif mode == "die" then
  assert(baton.spawn{ peer, "hold_child", arg[3], 60, die_with_parent = arg[4] ~= "no",
    stdout = "null", stderr = "null" })
  while true do baton.sleep(1) end
elseif mode == "shell" then
  local ok, status, out = baton.run{ "echo one two& exit 3", shell = true }
  print(ok, status, line(out))
elseif mode == "keep_fds" then
  print(pcall(baton.spawn, { peer, "exit", 0, keep_fds = { 1 } }))
elseif mode == "inherit" then
  local f = assert(io.open(arg[3], "w"))
  local p = assert(baton.spawn{ peer, "sleep", 5 })
  f:close()
  local removed, msg = os.remove(arg[3])
  print(removed or msg)
  p:kill()
  p:wait()
elseif mode == "gc" then
  local p = assert(baton.spawn{ peer, "sleep", 30, die_with_parent = true, stdout = "null" })
  local pid = p.pid
  p = nil -- luacheck: ignore 311
  collectgarbage()
  collectgarbage()
  local _, _, out = baton.run{ peer, "alive", pid }
  print(line(out))
elseif mode == "sweep" then
  assert(baton.spawn{ peer, "orphan", arg[3], die_with_parent = true, -- kept by nothing
    stdout = "null", stderr = "null" })
  collectgarbage()
  collectgarbage()
  local f = io.open(arg[3])
  while not f do
    baton.sleep(0.1)
    f = io.open(arg[3])
  end
  f:close()
  baton.sleep(1) -- `orphan` has ended by now
  require("baton.core").poll({}, nil, 0)
  assert(io.open(arg[4], "w")):close()
  baton.sleep(30)
end
