-- `baton status` tells the truth and changes nothing: it never locks, opens for writing,
-- or follows a link; it reports every kind of holder the kernel's table lists (flock, SQLite's
-- record locks, directories) and Debian filelock's empty soft markers; a holder on another
-- host is never described with a local process; what others wrote (notes, command lines,
-- paths) cannot forge a table row, colour the terminal or break the JSON.
local baton = require "baton"
local H = require "helpers"
local U = require "helpers.user"

local unpack = table.unpack or unpack
local B = require "helpers.bin"
local BIN, bt = B.BIN, B.run
local ROOT = os.getenv("BATON_ROOT") or "."
local NEW_FILELOCK = require("helpers.filelock32").SRC


-- What `baton status --json FILE...` says, parsed by Python's json module: exit status and
-- the list of objects (as Lua tables: JSON null is absent).
local PARSE = [[
import json, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, timeout=30)
doc = json.loads(p.stdout)  # bytes: they must be UTF-8, or this raises
def lua(v):
    if v is None: return "nil"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, (int, float)): return repr(v)
    if isinstance(v, str):
        return '"' + "".join("\\%d" % b for b in v.encode("utf-8")) + '"'
    if isinstance(v, list): return "{" + ",".join(lua(x) for x in v) + "}"
    return "{" + ",".join("[" + lua(k) + "]=" + lua(x) for k, x in v.items()) + "}"
print(p.returncode)
print("return " + lua(doc))
]]
local function status_json(...)
  local args = { H.PYTHON, "-c", PARSE, BIN, "status", "--json", ... }
  local ok, code, out, err = baton.run({ stderr = "pipe", timeout = 30, unpack(args) })
  assert(ok ~= nil, code)
  assert(code == 0, "python could not parse the JSON: " .. tostring(err))
  local rc, lua = out:match("^(%d+)\n(.*)$")
  local doc = assert((loadstring or load)(lua))()
  return tonumber(rc), doc
end

local function python(code, env)
  local prefix = env and ("env " .. env .. " ") or ""
  return prefix .. H.PYTHON .. " -c " .. H.quote(code)
end

local function is_root() return U.IS_ROOT end

describe("baton status tells the truth", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  describe("changes nothing", function()
    it("never takes a lock: flock -n on a free file never fails while status runs in a loop", function()
      local path, runs = dir .. "/free.lock", dir .. "/runs"
      H.write(path, "")
      H.spawn(string.format("sh -c %s", H.quote(string.format(
        "while :; do %s status %s >/dev/null 2>&1; echo x >> %s; done",
        H.quote(BIN), H.quote(path), H.quote(runs)))))
      H.wait_file(runs)
      -- a conflict exits 99 (-E); any other failure (flock(1) could not start `true`, say)
      -- says nothing of status: counted apart, with its first message
      local attempts, errors = 3000, dir .. "/errors"
      local code, out = H.run(string.format(
        "busy=0 other=0 i=0; while [ $i -lt %d ]; do flock -n -E 99 %s true 2>>%s; rc=$?; "
          .. "if [ $rc = 99 ]; then busy=$((busy+1)); elif [ $rc != 0 ]; then other=$((other+1)); fi; "
          .. "i=$((i+1)); done; echo busy=$busy other=$other",
        attempts, H.quote(path), H.quote(errors)))
      assert.equal(0, code)
      local _, ran = (H.read(runs) or ""):gsub("\n", "")
      assert.is_true(ran >= 50, "status ran only " .. ran .. " times")
      local busy, other = out:match("busy=(%d+) other=(%d+)")
      local first = (H.read(errors) or ""):match("[^\n]+")
      local why = string.format("%s of %d attempts failed otherwise%s", tostring(other), attempts,
        first and (", first: " .. first) or "")
      assert.equal("busy=0", "busy=" .. tostring(busy), why)
      -- and flock(1) did lock the file, nearly every time
      assert.is_true(tonumber(other) < attempts / 10, why)
    end)

    it("reports FIFOs, devices and links to them without opening them", function()
      if not is_root() then return pending("needs root to make a device node") end
      local fifo, dev = dir .. "/fifo", dir .. "/ttyX"
      assert.is_true((baton.run({ "mkfifo", fifo })))
      assert.is_true((baton.run({ "mknod", dev, "c", "1", "3" })))
      local to_fifo, to_dev = dir .. "/fifo.lock", dir .. "/serial.lock"
      assert.is_true((baton.run({ "ln", "-s", fifo, to_fifo })))
      assert.is_true((baton.run({ "ln", "-s", dev, to_dev })))
      -- inotify on the FIFO and the device node sees every open of them
      local watch = [[
import ctypes, json, os, select, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN, IN_NONBLOCK = 0x20, 0x800
fd = libc.inotify_init1(IN_NONBLOCK)
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x02, 0x04, 0x08
for p in sys.argv[1:3]:
    assert libc.inotify_add_watch(fd, p.encode(), IN_OPEN) >= 0
# a regular lock file may be read, never opened for writing or changed
mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE
assert libc.inotify_add_watch(fd, sys.argv[3].encode(), mask) >= 0
p = subprocess.run(sys.argv[4:], stdout=subprocess.PIPE, timeout=20)
select.select([fd], [], [], 0.2)
try:
    events = len(os.read(fd, 65536)) // 16
except BlockingIOError:
    events = 0
print(p.returncode, events)
sys.stdout.write(p.stdout.decode())
]]
      local plain = dir .. "/plain.lock"
      H.write(plain, "")
      local ok, code, out = baton.run({ H.PYTHON, "-c", watch, fifo, dev, plain, BIN, "status",
        to_fifo, to_dev, fifo, dev, plain, timeout = 30, stderr = "pipe" })
      assert(ok ~= nil, code)
      local rc, events = out:match("^(%d+) (%d+)\n")
      assert.equal("0", events, "status opened the FIFO or the device, or wrote:\n" .. out)
      assert.equal("66", rc)
      assert.matches("fifo.lock%s+unknown%s+a symbolic link to " .. dir:gsub("%p", "%%%0") .. "/fifo, not followed", out)
      assert.matches("serial.lock%s+unknown%s+a symbolic link", out)
      assert.matches("/fifo%s+error%s+.*fifo, not a lock file", out)
      assert.matches("/ttyX%s+error%s+.*character device, not a lock file", out)
      assert.matches("plain.lock%s+free", out)
    end)

    it("says unknown, and exits 66, where the kernel's lock table cannot be read #linux", function()
      if not is_root() then return pending("needs root for a mount namespace") end
      local path = dir .. "/x.lock"
      H.write(path, "")
      -- /proc/locks covered (in a mount namespace of its own) by a socket, which cannot be
      -- opened: everything else in /proc stays as it is
      local sock = dir .. "/sock"
      assert.is_true((baton.run({ H.PYTHON, "-c",
        "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", sock })))
      local code, out = H.run(string.format("unshare -m sh -c %s",
        H.quote(string.format("mount --bind %s /proc/locks && %s status --json %s",
          H.quote(sock), H.quote(BIN), H.quote(path)))))
      if out:match("unshare failed") or out:match("mount: .*permission") then
        return pending("no mount namespace here: " .. out)
      end
      assert.equal(66, code)
      assert.matches('"held":null', out, 1, true)
      assert.matches('"state":"unknown"', out, 1, true)
      assert.matches("/proc/locks", out, 1, true)
    end)
  end)

  describe("names every holder", function()
    it("a holder on another host is never described with a local process", function()
      local path = dir .. "/remote.lock"
      local pid = H.spawn("sleep 37")
      H.write(path, pid .. "\nsome-other-host\n")
      local code, doc = status_json(path)
      assert.equal(1, code)
      local r = doc[1]
      assert.equal("soft", r.kind)
      assert.equal("some-other-host", r.host)
      assert.same({ pid }, r.pids)
      assert.same({ "?" }, r.commands)
      assert.is_nil(r.holders[1].command)
      local _, out = bt({ "status", path })
      assert.is_nil(out:find("sleep 37", 1, true))
    end)

    it("a flock holder wins over a file that looks like a marker #linux", function()
      local path = dir .. "/looks.lock"
      H.write(path, "1\n" .. require("baton.core").hostname() .. "\n")
      local pid = H.flock_holder(path, 30, "-x")
      local code, doc = status_json(path)
      assert.equal(1, code)
      assert.equal("flock", doc[1].kind)
      assert.same({ pid }, doc[1].pids)
    end)

    it("a directory locked with flock(1) #linux", function()
      local lockdir = dir .. "/lockdir"
      assert.is_true((baton.run({ "mkdir", lockdir })))
      local code, out = bt({ "status", lockdir })
      assert.equal(0, code)
      assert.matches("lockdir%s+free%s+%(directory%)", out)
      local pid = H.flock_holder(lockdir, 30, "-s")
      local doc
      code, doc = status_json(lockdir)
      assert.equal(1, code)
      assert.equal("flock", doc[1].kind)
      assert.is_true(doc[1].shared)
      assert.same({ pid }, doc[1].pids)
    end)

    it("readers and a writer of an SQLite read/write lock (filelock's protocol, sqlite3) #linux", function()
      local path = dir .. "/rw.lock"
      local r1, r2 = dir .. "/r1", dir .. "/r2"
      local helper = ROOT .. "/spec/helpers/filelock_rw.py"
      local p1 = H.spawn(H.PYTHON .. " " .. H.quote(helper) .. " " .. H.quote(path) .. " read 5 30 " .. H.quote(r1))
      local p2 = H.spawn(H.PYTHON .. " " .. H.quote(helper) .. " " .. H.quote(path) .. " read 5 30 " .. H.quote(r2))
      H.wait_file(r1)
      H.wait_file(r2)
      local code, doc = status_json(path)
      assert.equal(1, code)
      local r = doc[1]
      assert.equal("rw", r.kind)
      assert.equal("read", r.mode)
      assert.is_true(r.shared)
      table.sort(r.pids)
      local want = { p1, p2 }
      table.sort(want)
      assert.same(want, r.pids)
      for _, h in ipairs(r.holders) do
        assert.equal("read", h.mode)
        assert.equal("shared", h.sqlite)
      end
      local _, out = bt({ "status", path })
      assert.matches("rw.lock%s+held%s+rw%s+read%s", out)
      H.kill(p1, "KILL")
      H.kill(p2, "KILL")
      H.wait_for(function() return not H.alive(p1) and not H.alive(p2) end, 10, "readers gone")

      -- the sqlite3 shell in an exclusive transaction
      local db = dir .. "/shell.lock"
      local ready = dir .. "/shell.ready"
      H.spawn(string.format("sh -c %s", H.quote(string.format(
        "(echo 'BEGIN EXCLUSIVE;'; echo '.output %s'; echo 'SELECT 1;'; sleep 30) | exec sqlite3 %s",
        ready, H.quote(db)))))
      H.wait_file(ready)
      code, doc = status_json(db)
      assert.equal(1, code)
      assert.equal("rw", doc[1].kind)
      assert.equal("write", doc[1].mode)
      assert.is_false(doc[1].shared)
      assert.equal("exclusive", doc[1].holders[1].sqlite)
      assert.is_truthy(doc[1].commands[1]:find("sqlite3", 1, true))
      assert.equal(1, #doc[1].pids)
    end)

    it("a writer with filelock 3.32's ReadWriteLock #linux", function()
      if not H.read(NEW_FILELOCK .. "/filelock/__init__.py") then
        return pending("filelock 3.32 not found at " .. NEW_FILELOCK)
      end
      local path, ready = dir .. "/new.lock", dir .. "/ready"
      local pid = H.spawn(python(string.format([[
import filelock, time
l = filelock.ReadWriteLock(%q)
l.acquire_write()
open(%q, "w").write("held")
time.sleep(30)
]], path, ready), "PYTHONPATH=" .. H.quote(NEW_FILELOCK)))
      H.wait_file(ready)
      local code, doc = status_json(path)
      assert.equal(1, code)
      assert.equal("rw", doc[1].kind)
      assert.equal("write", doc[1].mode)
      assert.same({ pid }, doc[1].pids)
    end)

    -- Linux only: who has the empty marker open: /proc/PID/fd
    it("Debian filelock 3.9's empty soft marker, held open by its holder #linux", function()
      local path, ready = dir .. "/soft.lock", dir .. "/ready"
      local pid = H.spawn(python(string.format([[
import filelock, time
l = filelock.SoftFileLock(%q)
l.acquire()
open(%q, "w").write("held")
time.sleep(30)
]], path, ready)))
      H.wait_file(ready)
      assert.equal("", H.read(path))
      local code, doc = status_json(path)
      assert.equal(1, code)
      assert.equal("soft", doc[1].kind)
      assert.same({ pid }, doc[1].pids)
      -- an empty lock file nobody holds is still free
      local other = dir .. "/empty.lock"
      H.write(other, "")
      assert.equal(0, (bt({ "status", other })))
    end)
  end)

  describe("output", function()
    it("escapes controls in the table: a note cannot forge a row", function()
      local path = dir .. "/esc.lock"
      local note = "line1\nforged.lock  free\27[31m"
      local ready = dir .. "/ready"
      H.spawn(string.format("%s lock --note %s %s sh -c %s", H.quote(BIN), H.quote(note),
        H.quote(path), H.quote("echo held > " .. H.quote(ready) .. "; exec sleep 30")))
      H.wait_file(ready)
      local code, out = bt({ "status", path })
      assert.equal(1, code)
      assert.is_nil(out:find("\27", 1, true))
      local _, lines = out:gsub("\n", "")
      assert.equal(2, lines)
      assert.matches("line1\\nforged.lock  free\\x1b[31m", out, 1, true)
    end)

    -- flock(1) is found as the holder in the kernel's lock table only
    it("escapes controls in the table: a command line cannot forge a row #linux", function()
      local other, ready2 = dir .. "/cmd.lock", dir .. "/ready2"
      H.spawn(string.format("flock -o %s sh -c %s %s", H.quote(other),
        H.quote("echo held > " .. H.quote(ready2) .. "; exec sleep 30"),
        H.quote("x\27]0;title\7\nforged  free")))
      H.wait_file(ready2)
      local code, out = bt({ "status", other })
      assert.equal(1, code)
      assert.is_nil((out:gsub("\n", "")):find("%c"))
      local _, lines = out:gsub("\n", "")
      assert.equal(2, lines)
      assert.matches("x\\x1b]0;title\\x07\\nforged  free", out, 1, true)
    end)

    it("--json is valid JSON whatever the bytes in notes and paths", function()
      local weird = dir .. "/we\255ird\n\27[1m.lock"
      local note = "caf\195\169 \255\254 \1\27[2J \226\128\168 end\127"
      local ready = dir .. "/ready"
      H.spawn(string.format("%s lock --note %s %s sh -c %s", H.quote(BIN), H.quote(note),
        H.quote(weird), H.quote("echo held > " .. H.quote(ready) .. "; exec sleep 30")))
      H.wait_file(ready)
      local code, doc = status_json(weird, dir .. "/\254free")
      assert.equal(1, code)
      -- bytes that are not UTF-8 read as the code points of their values
      assert.equal(dir .. "/we\195\191ird\n\27[1m.lock", doc[1].path)
      assert.equal("caf\195\169 \195\191\195\190 \1\27[2J \226\128\168 end\127", doc[1].note)
      assert.equal(dir .. "/\195\190free", doc[2].path)
      assert.is_false(doc[2].held)
      local _, raw = bt({ "status", "--json", weird })
      assert.is_nil((raw:gsub("\n", "")):find("%c"))
      assert.is_nil(raw:find("\255", 1, true))
    end)
  end)

  describe("command line", function()
    it("refuses an empty path or one with a NUL byte with status 64", function()
      local code, out, err = bt({ "status", "" })
      assert.equal(64, code)
      assert.equal("", out)
      assert.matches("the lock file name is empty", err, 1, true)
      code = bt({ "status", dir .. "/ok.lock", "" })
      assert.equal(64, code)
      -- a NUL inside a name no command line can pass: cli.main is called by a Lua child
      local rc = H.run(H.lua_cmd(H.script([[
local ok, rc = pcall(require("baton.cli").main, "status", { "a\0b" })
os.exit(ok and rc or 99)
]])) .. " 2>/dev/null")
      assert.equal(64, rc)
    end)
  end)
end)
