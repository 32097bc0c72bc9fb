-- baton.spawn and baton.run against real programs: exit statuses, signals, pipes, files,
-- environment, descriptors that must not leak into children, and misuse.
local baton = require "baton"
local H = require "helpers"

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err), 1, true)
end

describe("baton.spawn", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  it("runs a command without a shell and reports its exit status", function()
    local p = assert(baton.spawn{ "sh", "-c", "exit 7" })
    assert.is_number(p.pid)
    assert.equal(7, (p:wait()))
    assert.equal(7, p.code)
    -- waiting again gives the same answer
    assert.equal(7, (p:wait()))
    local out = dir .. "/args"
    p = assert(baton.spawn{ "sh", "-c", 'printf "%s|" "$@" > "$0"', out, "a b", "$HOME", "; rm -rf /", 42 })
    assert.equal(0, (p:wait()))
    assert.equal("a b|$HOME|; rm -rf /|42|", H.read(out))
  end)

  it("runs through /bin/sh only when asked, extra elements becoming $1...", function()
    local ok, code, out = baton.run{ "echo $0 $1 $2", "one", "two", shell = true }
    assert.is_true(ok)
    assert.equal(0, code)
    assert.equal("sh one two\n", out)
  end)

  it("reports death by signal as 128 + n and the signal", function()
    local p = assert(baton.spawn{ "sleep", "30" })
    assert.is_true(p:running())
    assert.is_true(p:kill("TERM"))
    local code, sig = p:wait(5)
    assert.equal(143, code)
    assert.equal(15, sig)
    assert.is_false(p:running())
    local again, msg, ecode = p:kill()
    assert.is_nil(again)
    assert.equal("ESRCH", ecode)
    assert.matches("ended", msg)
    p = assert(baton.spawn{ "sleep", "30" })
    p:kill(9)
    assert.same({ 137, 9 }, { p:wait(5) })
  end)

  it("gives up waiting after the timeout and leaves the process running", function()
    local p = assert(baton.spawn{ "sleep", "30" })
    local t0 = baton.now()
    local code, msg, why = p:wait(0.2)
    assert.is_nil(code)
    assert.equal("timeout", why)
    assert.matches("still runs", msg)
    assert.is_true(baton.now() - t0 >= 0.2)
    assert.is_true(H.alive(p.pid))
    assert.equal(143, (p:terminate()))
  end)

  it("terminates with SIGKILL a process that ignores SIGTERM", function()
    local p = assert(baton.spawn{ "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done",
      stdout = "pipe" })
    assert.equal("ready", p.stdout:read("l"))
    local code, sig = p:terminate(0.3)
    assert.equal(9, sig)
    assert.equal(137, code)
  end)

  it("says why a command cannot start", function()
    local p, msg, code = baton.spawn{ "no-such-command-here" }
    assert.is_nil(p)
    assert.equal("ENOENT", code)
    assert.matches("cannot run 'no-such-command-here'", msg, 1, true)
    p, msg, code = baton.spawn{ "true", cwd = dir .. "/missing" }
    assert.is_nil(p)
    assert.equal("ENOENT", code)
    assert.matches("cannot change to the folder", msg, 1, true)
    H.write(dir .. "/script", "#!/bin/sh\necho hi\n") -- not executable
    p, msg, code = baton.spawn{ dir .. "/script" }
    assert.is_nil(p)
    assert.equal("EACCES", code)
    assert.matches("cannot run '" .. dir .. "/script'", msg, 1, true)
    p, msg, code = baton.spawn{ "cat", stdin = dir .. "/nothing-here" }
    assert.is_nil(p)
    assert.equal("ENOENT", code)
    assert.matches(dir .. "/nothing-here", msg, 1, true)
  end)

  it("sets the environment and the working folder", function()
    local ok, _, out = baton.run{ "sh", "-c", 'echo "$A|${HOME-unset}|$B"; pwd',
      env = { A = "one two", HOME = false, B = 3 }, cwd = dir }
    assert.is_true(ok)
    local real = (select(3, baton.run{ "pwd", cwd = dir })):gsub("\n$", "")
    assert.equal("one two|unset|3\n" .. real .. "\n", out)
    -- PATH is the parent's unless replaced, so plain names are still found
    assert.is_true((baton.run{ "true", env = { X = "1" } }))
  end)

  describe("streams", function()
    it("pipes stdout and stderr separately, or together", function()
      local p = assert(baton.spawn{ "sh", "-c", "echo out; echo err >&2; echo more",
        stdout = "pipe", stderr = "pipe" })
      assert.equal("out", p.stdout:read())
      assert.equal("more\n", p.stdout:read("L"))
      assert.is_nil(p.stdout:read())
      assert.equal("err\n", p.stderr:read("a"))
      assert.equal(0, (p:wait()))
      local _, _, out = baton.run{ "sh", "-c", "echo out; echo err >&2", stderr = "stdout" }
      assert.equal("out\nerr\n", out)
    end)

    it("feeds stdin through a pipe and reads lines back", function()
      local p = assert(baton.spawn{ "cat", stdin = "pipe", stdout = "pipe" })
      assert.equal(p.stdin, p.stdin:write("one\n", "two", 3, "\n"))
      p.stdin:close()
      local lines = {}
      for l in p.stdout:lines() do lines[#lines + 1] = l end
      assert.same({ "one", "two3" }, lines)
      assert.equal(0, (p:wait()))
    end)

    it("moves a megabyte each way without stalling", function()
      local input = string.rep("0123456789abcdef", 65536)
      local ok, code, out = baton.run{ "cat", input = input }
      assert.is_true(ok)
      assert.equal(0, code)
      assert.equal(#input, #out)
      assert.equal(input, out)
      local p = assert(baton.spawn{ "sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2",
        stdout = "pipe", stderr = "pipe" })
      local o, e = p:communicate()
      assert.equal(1048576, #o)
      assert.equal(1048576, #e)
      assert.equal(0, p.code)
    end)

    it("reads from and writes to files, truncating or appending", function()
      local src, dst = dir .. "/in", dir .. "/out"
      H.write(src, "from a file\n")
      H.write(dst, "old content that is longer\n")
      assert.equal(0, (assert(baton.spawn{ "cat", stdin = src, stdout = dst }):wait()))
      assert.equal("from a file\n", H.read(dst))
      assert.equal(0, (assert(baton.spawn{ "echo", "more", stdout = { path = dst, append = true } }):wait()))
      assert.equal("from a file\nmore\n", H.read(dst))
      local _, _, out = baton.run{ "sh", "-c", "cat; echo done", stdin = "null" }
      assert.equal("done\n", out)
      local ok, _, none = baton.run{ "echo", "lost", stdout = "null" }
      assert.is_true(ok)
      assert.is_nil(none)
    end)

    it("reports EPIPE instead of dying when the reader is gone", function()
      local p = assert(baton.spawn{ "true", stdin = "pipe" })
      p:wait()
      local big = string.rep("x", 200000)
      local ok, msg, code = p.stdin:write(big)
      assert.is_nil(ok)
      assert.equal("EPIPE", code)
      assert.matches("pipe", msg)
    end)
  end)

  describe("descriptors", function()
    it("hands a child nothing but its three streams", function()
      local path = dir .. "/held.lock"
      local l = baton.lock(path)
      local f = assert(io.open(dir .. "/plain-file", "w")) -- io.open does not set close-on-exec
      local ok, _, out = baton.run{ "ls", "-l", "/proc/self/fd/" }
      f:close()
      assert.is_true(ok)
      assert.is_falsy(out:find(path, 1, true))
      assert.is_falsy(out:find("plain-file", 1, true))
      -- a long-running child must not keep the lock alive
      local p = assert(baton.spawn{ "sleep", "30" })
      l:release()
      assert.equal(0, (H.run("flock -n " .. H.quote(path) .. " true")))
      p:terminate()
    end)

    it("keeps the descriptors listed in keep_fds", function()
      local path = dir .. "/kept.lock"
      local l = baton.lock(path)
      local fd = l._h:fileno()
      local ok, _, out = baton.run{ "ls", "-l", "/proc/self/fd/", keep_fds = { fd } }
      assert.is_true(ok)
      assert.truthy(out:find(fd .. " -> " .. path, 1, true))
      l:release()
    end)
  end)

  it("signals a whole process group with group = true", function()
    local p = assert(baton.spawn{ "sh", "-c", "sleep 30 & echo $!; wait", stdout = "pipe", group = true })
    local grandchild = tonumber(p.stdout:read())
    assert.is_true(H.alive(grandchild))
    p:kill("TERM")
    p:wait(5)
    H.wait_for(function() return not H.alive(grandchild) end, 5, "the grandchild to end")
  end)

  it("stops a process when its <close> scope ends", function()
    if not H.is54 then return pending("to-be-closed variables need Lua 5.4") end
    local pid = H.run54([[
      local baton = ...
      local p <close> = assert(baton.spawn{ "sleep", "30" })
      return p.pid
    ]], baton)
    assert.is_false(H.alive(pid))
  end)

  it("rejects misuse with a clear error", function()
    raises("baton.spawn: expected a table", baton.spawn, "ls -l")
    raises("baton.spawn: the command is empty", baton.spawn, {})
    raises("unknown option 'stdot'", baton.spawn, { "true", stdot = "pipe" })
    raises("argument 2 must be a string", baton.spawn, { "echo", {} })
    raises("contains a NUL byte", baton.spawn, { "echo", "a\0b" })
    raises("option 'stdout' must be \"inherit\", \"pipe\", \"null\"", baton.spawn, { "true", stdout = 1 })
    raises("option 'env' must be a table", baton.spawn, { "true", env = "A=1" })
    raises("bad variable name", baton.spawn, { "true", env = { ["A=B"] = "1" } })
    raises("must be a string, a number or false", baton.spawn, { "true", env = { A = true } })
    raises("option 'shell' must be a boolean", baton.spawn, { "true", shell = 1 })
    raises("option 'cwd' must be a string", baton.spawn, { "true", cwd = 5 })
    raises("the command has a gap", baton.spawn, { "echo", nil, "x" })
    local p = assert(baton.spawn{ "true" })
    raises("unknown signal", p.kill, p, "NOPE")
    raises("timeout must be a number", p.wait, p, "1")
    p:wait()
    raises("option 'input' must be a string", baton.run, { "cat", input = {} })
    raises("option 'timeout' must be a number", baton.run, { "true", timeout = "5" })
    raises("needs stdin to be a pipe", baton.run, { "cat", input = "x", stdin = "null" })
  end)
end)

describe("baton.run", function()
  after_each(H.cleanup)

  it("returns ok, the exit status and stdout", function()
    assert.same({ true, 0, "hi\n" }, { baton.run{ "echo", "hi" } })
    local ok, code, out = baton.run{ "sh", "-c", "echo partial; exit 3" }
    assert.is_false(ok)
    assert.equal(3, code)
    assert.equal("partial\n", out)
    local _, _, _, err = baton.run{ "sh", "-c", "echo oops >&2", stderr = "pipe" }
    assert.equal("oops\n", err)
  end)

  it("returns nil, message, code when the command cannot start", function()
    local ok, msg, code = baton.run{ "no-such-command-here" }
    assert.is_nil(ok)
    assert.equal("ENOENT", code)
    assert.matches("baton.run: cannot run 'no-such-command-here'", msg, 1, true)
  end)

  it("stops a command that overruns its timeout", function()
    local t0 = baton.now()
    local ok, msg, code = baton.run{ "sh", "-c", "echo $$; exec sleep 30", timeout = 0.3 }
    assert.is_nil(ok)
    assert.equal("timeout", code)
    assert.matches("did not finish within 0.3 s", msg, 1, true)
    assert.is_true(baton.now() - t0 < 5)
  end)
end)
