-- The baton executable: a lua(1)-like script runner with baton built in, its handling of
-- SIGINT/SIGTERM/SIGHUP, and `baton lock` / `baton status` checked against flock(1) itself.
local baton = require "baton"
local H = require "helpers"

local unpack = table.unpack or unpack
local B = require "helpers.bin"
local BIN = B.BIN
local bt = B.run -- exit status, stdout, stderr


local function flock(args)
  local ok, code = baton.run{ "flock", stderr = "null", unpack(args) }
  assert(ok ~= nil, code)
  return code
end

-- A Lua pattern matching `s` literally.
local function lit(s) return (s:gsub("%p", "%%%0")) end

local function free(path) return flock({ "-n", path, "true" }) == 0 end

-- Start the executable in the background, with SIGINT, SIGTERM and SIGHUP at their defaults
-- whatever this process inherited.
local function start(args)
  local spec = { "env", "--default-signal=INT,TERM,HUP", BIN, unpack(args) }
  spec.stderr = "pipe"
  return assert(baton.spawn(spec))
end

local function wait_pid_file(path)
  H.wait_for(function() local s = H.read(path); return s and s:match("^%d+%s*$") end, 10, path)
  return tonumber((H.read(path):match("%d+")))
end

describe("the baton executable", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  describe("as a script runner", function()
    it("passes arguments in arg and as ...", function()
      local script = dir .. "/args.lua"
      H.write(script, "print(arg[0], arg[1], arg[2], select('#', ...), arg[-1] ~= nil, ...)")
      local code, out = bt({ script, "one", "two words" })
      assert.equal(0, code)
      assert.equal(script .. "\tone\ttwo words\t2\ttrue\tone\ttwo words\n", out)
    end)

    it("runs -e and -l in order, then the script; - reads standard input", function()
      H.write(dir .. "/mymod.lua", "return { value = 'from mymod' }")
      local env = { LUA_PATH = dir .. "/?.lua;;" }
      local code, out = bt({ "-e", "x = 1", "-l", "mymod", "-l", "m2=mymod", "-e",
        "print(x, mymod.value, m2.value)" }, { env = env })
      assert.equal(0, code)
      assert.equal("1\tfrom mymod\tfrom mymod\n", out)
      code, out = bt({ "-", "a" }, { input = "print('stdin', ...)" })
      assert.equal(0, code)
      assert.equal("stdin\ta\n", out)
      -- -E ignores LUA_PATH
      code = bt({ "-E", "-l", "mymod", "-e", "" }, { env = env })
      assert.equal(1, code)
      -- LUA_INIT runs first
      code, out = bt({ "-e", "print(y)" }, { env = { LUA_INIT = "y = 42" } })
      assert.equal(0, code, out)
      assert.equal("42\n", out)
    end)

    it("has baton built in, without LUA_PATH or LUA_CPATH", function()
      local code, out, err = bt({ "-e", [[
        local baton = require "baton"
        local l = baton.lock(']] .. dir .. [[/built-in.lock')
        print(l:is_locked(), package.loaded["baton.core"] ~= nil, type(baton.spawn), type(baton.jobs))
        l:release()
      ]] }, { env = { LUA_PATH = false, LUA_CPATH = false } })
      assert.equal(0, code, err)
      assert.equal("true\ttrue\tfunction\tfunction\n", out)
    end)

    it("shows the version and help", function()
      local code, out = bt({ "-v" })
      assert.equal(0, code)
      assert.matches("^baton %d+%.%d+%.%d+ %(Lua 5%.4", out)
      code, out = bt({ "--help" })
      assert.equal(0, code)
      assert.matches("usage: baton", out, 1, true)
      assert.matches("baton lock", out, 1, true)
    end)

    it("refuses unknown options with a usage message and status 64", function()
      local code, _, err = bt({ "-q" })
      assert.equal(64, code)
      assert.matches("unrecognized option '-q'", err, 1, true)
      assert.matches("usage:", err, 1, true)
      code, _, err = bt({ "-e" })
      assert.equal(64, code)
      assert.matches("needs an argument", err, 1, true)
    end)

    it("reports an uncaught error with a traceback and exits 1", function()
      local script = dir .. "/fails.lua"
      H.write(script, "local function inner() error('boom') end\nlocal function outer() inner() end\nouter()\n")
      local code, _, err = bt({ script })
      assert.equal(1, code)
      assert.matches("^baton: " .. lit(script) .. ":1: boom\n", err)
      assert.matches("stack traceback:", err, 1, true)
      assert.matches("'inner'", err, 1, true)
      code, _, err = bt({ "-e", "error({})" })
      assert.equal(1, code)
      assert.matches("error object is a table value", err, 1, true)
      H.write(script, "this is not lua")
      code, _, err = bt({ script })
      assert.equal(1, code)
      assert.matches("syntax error", err, 1, true)
      code, _, err = bt({ dir .. "/missing.lua" })
      assert.equal(1, code)
      assert.matches("cannot open", err, 1, true)
    end)

    it("stops the children of a failing script before its <close> handlers run", function()
      local script, seen = dir .. "/fails.lua", dir .. "/seen"
      H.write(script, [[
        local baton = require "baton"
        local p
        local check <close> = setmetatable({}, { __close = function()
          local f = io.open(arg[1], "w")
          f:write(os.execute("kill -0 " .. p.pid .. " 2>/dev/null") and "alive" or "stopped")
          f:close()
        end })
        p = baton.spawn{ "sleep", "30" }
        error("boom")
      ]])
      local code, _, err = bt({ script, seen })
      assert.equal(1, code)
      assert.matches("boom", err, 1, true)
      assert.equal("stopped", H.read(seen))
    end)

    it("exits with os.exit's status", function()
      assert.equal(5, (bt({ "-e", "os.exit(5)" })))
      assert.equal(1, (bt({ "-e", "os.exit(false)" })))
      assert.equal(0, (bt({ "-e", "os.exit(true, true)" })))
    end)
  end)

  describe("when a script is interrupted", function()
    local SCRIPT = [[
      local baton = require "baton"
      local path, dir = arg[1], arg[2]
      local function note(name)
        return setmetatable({}, { __close = function()
          local f = io.open(dir .. "/" .. name, "w"); f:write("ran"); f:close()
        end })
      end
      local l <close> = baton.lock(path)
      local guard <close> = note("closed")
      local p = baton.spawn{ "sleep", "30" }
      local f = io.open(dir .. "/child", "w"); f:write(p.pid); f:close()
      p:wait()
    ]]

    for _, case in ipairs({ { "TERM", 143 }, { "INT", 130 }, { "HUP", 129 } }) do
      it("unwinds on SIG" .. case[1] .. ": <close> runs, the lock is freed, no child is left, status "
        .. case[2], function()
        local script, path = dir .. "/job.lua", dir .. "/job.lock"
        H.write(script, SCRIPT)
        local p = start({ script, path, dir })
        local child = wait_pid_file(dir .. "/child")
        assert.is_false(free(path))
        assert.is_true(H.alive(child))
        p:kill(case[1])
        local code = p:wait(10)
        assert.equal(case[2], code)
        assert.matches("interrupted by SIG" .. case[1], p.stderr:read("a"), 1, true)
        assert.is_false(H.alive(child))
        assert.equal("ran", H.read(dir .. "/closed"))
        assert.is_true(free(path))
      end)
    end

    it("cancels running jobs: their <close> handlers run and their children are stopped", function()
      local script = dir .. "/jobs.lua"
      H.write(script, [[
        local baton = require "baton"
        local dir = arg[1]
        local function note(name)
          return setmetatable({}, { __close = function()
            local f = io.open(dir .. "/" .. name, "w"); f:write("ran"); f:close()
          end })
        end
        local jobs = baton.jobs{ max = 3 }
        for i = 1, 2 do
          jobs:add(function()
            local l <close> = baton.lock(dir .. "/job" .. i .. ".lock")
            local g <close> = note("closed" .. i)
            local p = baton.spawn{ "sleep", "30" }
            local f = io.open(dir .. "/child" .. i, "w"); f:write(p.pid); f:close()
            p:wait()
          end)
        end
        jobs:add(function() while true do baton.sleep(0.01) end end)
        jobs:wait()
      ]])
      local p = start({ script, dir })
      local children = { wait_pid_file(dir .. "/child1"), wait_pid_file(dir .. "/child2") }
      assert.is_false(free(dir .. "/job1.lock"))
      p:kill("TERM")
      assert.equal(143, (p:wait(10)))
      for i = 1, 2 do
        assert.is_false(H.alive(children[i]))
        assert.equal("ran", H.read(dir .. "/closed" .. i))
        assert.is_true(free(dir .. "/job" .. i .. ".lock"))
      end
    end)

    it("stops waiting for a lock at once", function()
      local path = dir .. "/busy.lock"
      H.flock_holder(path, 30, "-x")
      for _, args in ipairs({ { "-e", "require('baton').lock(" .. string.format("%q", path) .. ")" },
        { "lock", path, "true" } }) do
        local p = start(args)
        baton.sleep(0.3) -- let it start waiting
        local t0 = baton.now()
        p:kill("TERM")
        assert.equal(143, (p:wait(10)))
        assert.is_true(baton.now() - t0 < 1.5, "took " .. (baton.now() - t0))
      end
    end)

    it("stops a busy loop, in the main chunk and in a coroutine", function()
      for _, body in ipairs({
        "READY() while true do end",
        "coroutine.wrap(function() READY() while true do end end)()",
      }) do
        local ready = dir .. "/ready"
        os.remove(ready)
        local p = start({ "-e", string.format("function READY() io.open(%q, 'w'):close() end", ready),
          "-e", body })
        H.wait_file(ready)
        p:kill("TERM")
        assert.equal(143, (p:wait(10)))
      end
    end)
  end)

  describe("baton lock", function()
    local path
    before_each(function() path = dir .. "/the.lock" end)

    -- The same arguments to `baton lock` and to `flock` must give the same status.
    local function same_as_flock(args, expected)
      local mine, _, err = bt({ "lock", unpack(args) })
      local theirs = flock(args)
      assert.equal(theirs, mine, "baton lock " .. table.concat(args, " ") .. ": " .. tostring(err))
      if expected then assert.equal(expected, mine) end
    end

    it("exits like flock(1) on a free lock", function()
      same_as_flock({ "-n", path, "true" }, 0)
      same_as_flock({ "-w", "1", path, "true" }, 0)
      same_as_flock({ "-E", "5", "-n", path, "true" }, 0)
      same_as_flock({ "-s", "-n", path, "true" }, 0)
      same_as_flock({ path, "sh", "-c", "exit 3" }, 3)
      same_as_flock({ path, "-c", "exit 4" }, 4)
      same_as_flock({ path, "sh", "-c", "kill -9 $$" }, 137)
    end)

    it("exits like flock(1) on a lock flock(1) holds", function()
      H.flock_holder(path, 30, "-x")
      same_as_flock({ "-n", path, "true" }, 1)
      same_as_flock({ "-w", "0.3", path, "true" }, 1)
      same_as_flock({ "-w", "0", path, "true" }, 1)
      same_as_flock({ "-E", "5", "-n", path, "true" }, 5)
      same_as_flock({ "-E", "7", "-w", "0.2", path, "true" }, 7)
      same_as_flock({ "-E", "0", "-n", path, "true" }, 0)
      same_as_flock({ "-s", "-n", path, "true" }, 1)
    end)

    it("shares a shared lock with flock(1) -s", function()
      H.flock_holder(path, 30, "-s")
      same_as_flock({ "-s", "-n", path, "true" }, 0)
      same_as_flock({ "-n", path, "true" }, 1)
    end)

    it("exits like flock(1) on bad command lines, unopenable files and unrunnable commands", function()
      same_as_flock({}, 64)
      same_as_flock({ path }, 64)
      same_as_flock({ "-w", "abc", path, "true" }, 64)
      same_as_flock({ "-E", "300", "-n", path, "true" }, 64)
      same_as_flock({ "--bogus", path, "true" }, 64)
      same_as_flock({ path, "-c" }, 64)
      same_as_flock({ path, "-c", "true", "extra" }, 64)
      H.write(dir .. "/plain", "")
      same_as_flock({ dir .. "/plain/sub.lock", "true" }, 66)
      same_as_flock({ dir .. "/no/such/folder.lock", "true" }, 66)
      -- a directory: locked as flock(1) locks it (opened read-only)
      same_as_flock({ dir, "true" }, 0)

      same_as_flock({ path, "no-such-command-here" }, 69)
      local code, _, err = bt({ "lock", "-n" })
      assert.equal(64, code)
      assert.matches("Try 'baton lock --help'", err, 1, true)
    end)

    it("and flock(1) exclude each other on one file", function()
      local ready = dir .. "/ready"
      local p = start({ "lock", path, "sh", "-c", "echo held > " .. H.quote(ready) .. "; exec sleep 30" })
      H.wait_file(ready)
      assert.equal(1, flock({ "-n", path, "true" }))
      assert.equal(1, flock({ "-w", "0.2", path, "true" }))
      p:kill("TERM")
      assert.equal(143, (p:wait(10)))
      assert.equal(0, flock({ "-n", path, "true" }))
      -- baton lock -w waits for flock(1)'s holder and gets the lock when it lets go
      H.flock_holder(path, 0.5, "-x")
      local t0 = baton.now()
      assert.equal(0, (bt({ "lock", "-w", "10", path, "true" })))
      assert.is_true(baton.now() - t0 > 0.2)
    end)

    it("stops the command and frees the lock when it is terminated", function()
      local pidfile = dir .. "/cmd.pid"
      local p = start({ "lock", path, "sh", "-c", "echo $$ > " .. H.quote(pidfile) .. "; exec sleep 30" })
      local cmd = wait_pid_file(pidfile)
      p:kill("TERM")
      assert.equal(143, (p:wait(10)))
      assert.is_false(H.alive(cmd))
      assert.is_true(free(path))
    end)

    it("does not hand the lock's descriptor to the command with -o; without --inherit, unlocks when it ends", function()
      local code, out = bt({ "lock", "-o", path, "ls", "-l", "/proc/self/fd/" })
      assert.equal(0, code)
      assert.is_falsy(out:find(path, 1, true))
      -- a background process the command leaves behind does not keep the lock
      code, out = bt({ "lock", path, "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!" })
      assert.equal(0, code, out)
      local left = tonumber(out)
      assert.is_true(free(path))
      H.kill(left)

      code, out = bt({ "lock", "--inherit", path, "sh", "-c", 'echo "fd=$BATON_LOCK_FD"; ls -l /proc/self/fd/' })
      assert.equal(0, code)
      local fd = out:match("fd=(%d+)")
      assert.truthy(fd)
      assert.truthy(out:find(fd .. " -> " .. path, 1, true))
      -- with --inherit, as with flock(1), the lock lives on in what the command left running
      code, out = bt({ "lock", "--inherit", path, "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!" })
      assert.equal(0, code)
      left = tonumber(out)
      assert.is_false(free(path))
      H.kill(left)
      H.wait_for(function() return free(path) end, 10, "the lock to be freed")
    end)

    -- Linux only: the holder is flock(1): found in the kernel's lock table only
    it("says who holds the lock while waiting with -v #linux", function()
      local holder = H.flock_holder(path, 30, "-x")
      local code, _, err = bt({ "lock", "-v", "-w", "0.3", path, "true" })
      assert.equal(1, code)
      assert.matches("held by pid " .. holder .. " (flock", err, 1, true)
      assert.matches("timed out", err, 1, true)
    end)

    it("accepts --note, and --soft where soft locks exist", function()
      assert.equal(0, (bt({ "lock", "--note", "nightly backup", path, "true" })))
      local has_soft = pcall(require, "baton.kind.soft")
      local code, _, err = bt({ "lock", "--soft", "-n", dir .. "/soft.lock", "true" })
      if has_soft then
        assert.equal(0, code, err)
      else
        assert.equal(64, code)
        assert.matches("--soft needs soft locks", err, 1, true)
      end
    end)
  end)

  describe("baton status", function()
    it("says free and exits 0 when no lock is held, without creating files", function()
      local missing, existing = dir .. "/missing.lock", dir .. "/existing.lock"
      H.write(existing, "")
      local code, out = bt({ "status", missing, existing })
      assert.equal(0, code)
      assert.matches(lit(missing) .. "%s+free", out)
      assert.matches(lit(existing) .. "%s+free", out)
      assert.is_nil(H.read(missing))
    end)

    -- Linux only: the holder is flock(1): found in the kernel's lock table only
    it("names the holder and exits 1 when any lock is held #linux", function()
      local held, other = dir .. "/held.lock", dir .. "/other.lock"
      local pid = H.flock_holder(held, 30, "-s")
      local code, out = bt({ "status", held, other })
      assert.equal(1, code)
      assert.matches(lit(held) .. "%s+held%s+flock%s+shared%s+" .. pid, out)
      assert.matches(lit(other) .. "%s+free", out)
      code, out = bt({ "status", "--json", held, other })
      assert.equal(1, code)
      assert.matches('"path":"' .. held .. '","held":true,"kind":"flock","shared":true,"pids":[' .. pid
        .. "]", out, 1, true)
      assert.matches('"path":"' .. other .. '","held":false', out, 1, true)
    end)

    it("reports a file it cannot inspect with status 66", function()
      H.write(dir .. "/file", "")
      local bad = dir .. "/file/x.lock"
      local code, out = bt({ "status", bad })
      assert.equal(66, code)
      assert.matches(lit(bad) .. "%s+error%s+.*Not a directory", out)
      code, out = bt({ "status", "--json", bad })
      assert.equal(66, code)
      assert.matches('"held":null', out, 1, true)
      assert.matches('"error":"cannot', out, 1, true)
    end)

    it("reports a FIFO at once, without waiting for a writer", function()
      local fifo = dir .. "/fifo"
      assert.is_true((baton.run({ "mkfifo", fifo })))
      local code, out = bt({ "status", fifo }, { timeout = 10 })
      assert.equal(66, code)
      assert.matches(lit(fifo) .. "%s+error", out)
    end)

    it("refuses a bad command line with status 64", function()
      assert.equal(64, (bt({ "status" })))
      assert.equal(64, (bt({ "status", "--bogus", "x" })))
      local code, out = bt({ "status", "--help" })
      assert.equal(0, code)
      assert.matches("usage: baton status", out, 1, true)
    end)
  end)

  describe("examples", function()
    it("deploy.lua updates hosts in parallel and reports the one that fails", function()
      H.write(dir .. "/broken", "a file where a folder should be")
      local code, out, err = bt({ "examples/deploy.lua", dir, "web1", "web2", "broken", "db1" })
      assert.equal(1, code)
      for _, host in ipairs({ "web1", "web2", "db1" }) do
        assert.matches(host .. ": release%-", out)
        assert.matches("^release%-", H.read(dir .. "/" .. host .. "/version"))
      end
      assert.matches("broken FAILED: 'mkdir", err, 1, true)
      for _, host in ipairs({ "web1", "web2", "broken", "db1" }) do
        assert.is_true(free(dir .. "/locks/" .. host .. ".lock"))
      end
    end)

    it("cache.lua fetches once for several processes asking at once", function()
      local procs = {}
      for i = 1, 3 do
        procs[i] = assert(baton.spawn{ BIN, "examples/cache.lua", dir, "model.bin",
          stdout = "pipe", stderr = "pipe" })
      end
      local fetched = 0
      for i = 1, 3 do
        local out, err = procs[i]:communicate()
        assert.equal(0, procs[i].code, err)
        assert.equal(dir .. "/model.bin\n", out)
        if err:find("fetching model.bin", 1, true) then fetched = fetched + 1 end
      end
      assert.equal(1, fetched)
      assert.equal("contents of model.bin\n", H.read(dir .. "/model.bin"))
    end)

    -- Linux only: the previous run is flock(1): named from the kernel's lock table only
    it("cron-guard.lua skips quietly while a previous run holds the lock #linux", function()
      local lockfile = dir .. "/cron.lock"
      local code, out = bt({ "examples/cron-guard.lua", lockfile, dir })
      assert.equal(0, code)
      assert.equal("done\n", out)
      local holder = H.flock_holder(lockfile, 30, "-x")
      code, out = bt({ "examples/cron-guard.lua", lockfile, dir })
      assert.equal(0, code)
      assert.matches("previous run still going (pid " .. holder .. ", flock ", out, 1, true)
      assert.matches("skipping", out, 1, true)
    end)
  end)
end)
