-- Python filelock 3.32 (from ../shared/peers) as a peer: its strict soft locks and leases.
local H = require "helpers"

local F = {}

-- BATON_FILELOCK32, else ../shared/peers beside the project's tree (the main tree's parent,
-- or a worktree's grandparent)
local function source()
  local given = os.getenv("BATON_FILELOCK32")
  if given then return given end
  local root = os.getenv("BATON_ROOT") or "."
  for _, up in ipairs({ "/../shared", "/../../shared", "/../../../shared" }) do
    local src = root .. up .. "/peers/filelock-3.32.3/src"
    local f = io.open(src .. "/filelock/_strict.py", "r")
    if f then
      f:close()
      return src, true
    end
  end
  return root .. "/../shared/peers/filelock-3.32.3/src", false
end
local found
F.SRC, found = source()
F.AVAILABLE = found or io.open(F.SRC .. "/filelock/_strict.py", "r") ~= nil

-- Python: _RW(rwlock, "read" | "write") is one mode of a read/write lock with acquire()
-- and release(), for F.holder and F.attempt.
local RW = [[
class _RW:
    def __init__(self, lock, mode):
        self.lock, self.mode = lock, mode
    def acquire(self, timeout=-1):
        take = self.lock.acquire_read if self.mode == "read" else self.lock.acquire_write
        take(timeout=timeout)
    def release(self):
        self.lock.release()
]]

-- The command line running Python code `code` with filelock 3.32 importable.
function F.cmd(code)
  return "env PYTHONPATH=" .. H.quote(F.SRC) .. " " .. H.PYTHON .. " -c " .. H.quote(code)
end

-- Run `code` to the end: its exit code and output.
function F.run(code)
  return H.run(F.cmd(code))
end

-- A Python process holding `path` through `make` (Python: an expression making the lock)
-- for `seconds`; returns its pid once it holds. With `own`, it is this process's child, and
-- its baton.spawn process comes second (to be reaped: a killed orphan may stay a zombie
-- where init does not reap, which only /proc tells from a live process).
function F.holder(path, make, seconds, own)
  local ready = H.tmpdir() .. "/ready"
  local code = RW .. string.format([[
import filelock, os, time
l = %s
l.acquire()
open(%q, "w").write(str(os.getpid()))
os.rename(%q, %q)  # whole: the file appears with its content
time.sleep(%s)
l.release()
]], make:format(path), ready .. ".part", ready .. ".part", ready, seconds or 30)
  local p
  if own then
    p = assert(require("baton").spawn{ "sh", "-c", "exec " .. F.cmd(code), stdout = "null",
      stderr = "null" })
  else
    H.spawn(F.cmd(code))
  end
  H.wait_file(ready)
  return tonumber(H.read(ready)), p
end

-- Python's attempt at `path` through `make` with `timeout`: "got" (it held and released
-- it), "timeout", or the name of the exception it raised and its text.
function F.attempt(path, make, timeout)
  local code = RW .. string.format([[
import filelock
l = %s
try:
    l.acquire(timeout=%s)
    l.release()
    print("got")
except filelock.Timeout:
    print("timeout")
except Exception as e:
    print(type(e).__name__, e)
]], make:format(path), timeout or 0)
  local _, out = F.run(code)
  return (out:gsub("%s+$", ""))
end

return F
