-- Bad input: every misuse raises a clear error naming the problem and the path; system
-- errors raise from lock() and come back as nil, message, code from try_lock().
local baton = require "baton"
local H = require "helpers"

local raises = H.raises

describe("bad input", function()
  local dir, path
  before_each(function()
    dir = H.tmpdir()
    path = dir .. "/the.lock"
  end)
  after_each(H.cleanup)

  it("rejects paths that are not strings, empty, or hold a NUL byte", function()
    for _, f in ipairs({ baton.lock, baton.try_lock, baton.new }) do
      raises("path must be a string, got nil", f)
      raises("path must be a string, got table", f, {})
      raises("path must be a string, got number", f, 42)
      raises("lock path is empty", f, "")
      raises("contains a NUL byte", f, dir .. "/a\0b")
    end
  end)

  it("rejects options that are not a table, unknown options and ill-typed values", function()
    raises("options must be a table, got string", baton.lock, path, "fast")
    raises("unknown option 'timout'", baton.lock, path, { timout = 1 })
    raises("unknown option 'timout'", baton.try_lock, path, { timout = 1 })
    raises("unknown option '1'", baton.new, path, { true })
    raises("option 'timeout' must be a number, got string", baton.lock, path, { timeout = "5" })
    raises("option 'timeout' must be a number, got NaN", baton.lock, path, { timeout = 0 / 0 })
    raises("option 'shared' must be a boolean, got number", baton.lock, path, { shared = 1 })
    raises("option 'sleep' must be a function", baton.lock, path, { sleep = 0.1 })
    raises("option 'note' must be a string", baton.lock, path, { note = {} })
    local err = raises("option 'timeout'", baton.lock, path, { timeout = "x" })
    assert.matches(path, err, 1, true)
  end)

  it("rejects permission bits out of range", function()
    raises("option 'mode' must be permission bits", baton.new, path, { mode = -1 })
    raises("option 'mode' must be permission bits", baton.new, path, { mode = 4096 })
    raises("option 'mode' must be permission bits", baton.new, path, { mode = 1.5 })
    raises("option 'mode' must be octal digits", baton.new, path, { mode = "rw-r--r--" })
    raises("option 'mode' must be octal digits", baton.new, path, { mode = "0649" })
    assert.is_truthy(baton.new(path, { mode = "0640" }))
    assert.is_truthy(baton.new(path, { mode = 420 }))
  end)

  it("rejects object options given to a single acquisition", function()
    local l = baton.new(path)
    raises("option 'shared' is set when the lock is made", l.acquire, l, { shared = true })
    raises("unknown option 'force'", l.acquire, l, { force = true })
  end)

  it("reports a directory, a path through a file and a missing folder with their paths", function()
    local cases = {
      { dir, "EISDIR", "Is a directory" },
      { "/etc/hostname/x.lock", "ENOTDIR", "Not a directory" },
      { "/proc/self/nope/x.lock", "ENOENT", "folder" },
      { "/dev/null", "EINVAL", "not a regular file" },
    }
    for _, c in ipairs(cases) do
      local l, msg, code = baton.try_lock(c[1])
      assert.is_nil(l)
      assert.equal(c[2], code)
      assert.matches(c[1], msg, 1, true)
      assert.matches(c[3], msg, 1, true)
      local err = raises(c[1], baton.lock, c[1], { timeout = 1 })
      assert.matches(c[3], err, 1, true)
    end
  end)

  it("reports a symbolic link as the lock file instead of following it", function()
    os.execute("ln -s /etc/hostname " .. H.quote(path))
    local l, msg, code = baton.try_lock(path)
    assert.is_nil(l)
    assert.equal("ELOOP", code)
    assert.matches(path, msg, 1, true)
  end)

  it("reports an unwritable folder", function()
    os.execute("chmod 0755 " .. H.quote(dir) .. "; mkdir -m 0555 " .. H.quote(dir .. "/ro"))
    local target = dir .. "/ro/x.lock"
    local code, out = H.run("setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.LUA
      .. " -e " .. H.quote("print(require('baton').try_lock(" .. string.format("%q", target) .. "))"))
    assert.equal(0, code, out)
    assert.matches("EACCES", out)
    assert.matches(target, out, 1, true)
  end)

  it("refuses to release a lock that is not held, and any use after close", function()
    local l = baton.new(path)
    raises("lock '" .. path .. "' is not held", l.release, l)
    raises("unknown option 'forse'", l.release, l, { forse = true })
    l:acquire()
    l:close()
    assert.is_false(l:is_locked())
    raises("is closed", l.acquire, l)
    raises("is closed", l.release, l)
    raises("is closed", l.try_acquire, l)
    l:close() -- idempotent
    assert.is_truthy(baton.try_lock(path)):release()
  end)

  it("rejects a non-function given to :with", function()
    local l = baton.new(path)
    raises("expected a function, got number", l.with, l, 42)
    assert.equal(0, l:count())
  end)

  it("does not leak descriptors when attempts fail", function()
    local pid = H.read("/proc/self/stat"):match("^%d+")
    local function fds()
      local n = 0
      local ls = io.popen("ls /proc/" .. pid .. "/fd")
      for _ in ls:lines() do n = n + 1 end
      ls:close()
      return n
    end
    local holder = baton.lock(path)
    -- waiting keeps a few inotify instances for the next waiter (closing one is slow); a
    -- wait with a `sleep` arms its watch before the first pause, however late the clock
    -- reads (a plain 1 ms wait can time out before it ever waits, and keep none)
    pcall(baton.lock, path, { timeout = 0.001, sleep = function() end })
    -- what earlier specs left for the collector is not this spec's to count
    collectgarbage(); collectgarbage()
    local before = fds()
    for _ = 1, 50 do
      assert.is_nil((baton.try_lock(path)))
      assert.is_nil((baton.try_lock(dir)))
      pcall(baton.lock, path, { timeout = 0.001 })
    end
    collectgarbage(); collectgarbage()
    -- none more than before (processes earlier specs started may close theirs meanwhile)
    local after = fds()
    assert.is_true(after <= before, before .. " descriptors before, " .. after .. " after")
    holder:release()
  end)
end)
