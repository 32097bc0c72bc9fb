-- Real peers for the read/write lock and semaphore specs: Python processes running filelock's
-- ReadWriteLock protocol (spec/helpers/filelock_rw.py), the sqlite3 shell, Lua children.
--
-- Never open and close a lock file in the spec process while it holds read/write locks on
-- it: SQLite's locks are POSIX record locks, which any close of the file by the same
-- process drops. Look at lock files from other processes (R.size uses stat(1)).
local H = require "helpers"

local R = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/helpers"
R.PEER = here .. "/filelock_rw.py"
R.BUSY = 3 -- the peer's exit code when the lock stayed busy

-- A Python peer holding `path` in `mode` ("read"/"write") for `hold` seconds; returns its
-- pid once it holds the lock.
function R.py_holder(path, mode, hold)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(table.concat({ H.PYTHON, H.quote(R.PEER), H.quote(path), mode, "30",
    tostring(hold or 30), H.quote(ready) }, " "))
  H.wait_file(ready)
  return pid
end

-- A Python peer started in the background that waits up to `timeout` for the lock; returns
-- its pid and the file it writes once it holds the lock.
function R.py_waiter(path, mode, timeout, hold)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(table.concat({ H.PYTHON, H.quote(R.PEER), H.quote(path), mode,
    tostring(timeout or 30), tostring(hold or 30), H.quote(ready) }, " "))
  return pid, ready
end

-- One attempt by a Python peer (no waiting): 0 when it got the lock, R.BUSY when not.
function R.py_try(path, mode)
  local code, out = H.run(table.concat({ H.PYTHON, H.quote(R.PEER), H.quote(path), mode, "0",
    "0", "''" }, " "))
  assert(code == 0 or code == R.BUSY, out)
  return code
end

-- A Python reader that re-takes its read lock as soon as it lets go, holding it `hold`
-- seconds each time and counting its turns in the file it returns with its pid.
function R.py_chain_reader(path, hold)
  local dir = H.tmpdir()
  local pid = H.spawn(table.concat({ H.PYTHON, H.quote(R.PEER), H.quote(path), "read", "0",
    tostring(hold), H.quote(dir .. "/ready"), H.quote(dir .. "/count") }, " "))
  H.wait_file(dir .. "/ready")
  return pid, dir .. "/count"
end

-- The sqlite3 shell holding BEGIN EXCLUSIVE on `path`; returns its process group id (kill
-- it with R.kill_group) once it holds the lock.
function R.sqlite3_holder(path)
  local ready = H.tmpdir() .. "/ready"
  local script = string.format("{ printf '%%s\\n' '.bail on' 'BEGIN EXCLUSIVE;' %s; sleep 60; } "
    .. "| sqlite3 %s", H.quote(".shell touch " .. H.quote(ready)), H.quote(path))
  local pgid = H.spawn("sh -c " .. H.quote(script)) -- H.spawn gives it a group of its own
  H.wait_file(ready)
  return pgid
end

-- One BEGIN EXCLUSIVE by the sqlite3 shell, without waiting: true when it got the lock.
function R.sqlite3_try_exclusive(path)
  local code = H.run("sqlite3 -bail " .. H.quote(path) .. " 'BEGIN EXCLUSIVE;' 'ROLLBACK;'")
  return code == 0
end

function R.kill_group(pgid, sig)
  os.execute("kill -" .. (sig or "TERM") .. " -" .. pgid .. " 2>/dev/null") -- dash: no "--"
  H.wait_for(function() return not H.alive(pgid) end, 10, "process group " .. pgid)
end

function R.kill(pid, sig)
  H.kill(pid, sig or "KILL")
  H.wait_for(function() return not H.alive(pid) end, 10, "process " .. pid)
end

-- The size of a file, asked of stat(1) so that this process never opens it.
function R.size(path)
  local code, out = H.run("stat -c %s " .. H.quote(path))
  assert(code == 0, out)
  return tonumber(out)
end

-- Names in a folder, sorted.
function R.ls(dir)
  local names = {}
  local f = assert(io.popen("ls -A " .. H.quote(dir)))
  for name in f:lines() do names[#names + 1] = name end
  f:close()
  table.sort(names)
  return names
end

-- Lines in a file (a chain reader's count), or 0.
function R.lines(path)
  local s = H.read(path)
  if not s then return 0 end
  local n = 0
  for _ in s:gmatch("\n") do n = n + 1 end
  return n
end

-- A Lua child running `code` with arg[1..] = ...; returns its pid once it wrote arg[1]
-- (the ready file, made here and passed first).
function R.lua_child(code, ...)
  local ready = H.tmpdir() .. "/ready"
  local pid = H.spawn(H.lua_cmd(H.script(code), ready, ...))
  H.wait_file(ready)
  return pid
end

return R
