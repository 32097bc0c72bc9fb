-- Lock paths that another local user can change while root locks there. A folder of the path
-- checked for planted links and then opened again by name could be swapped for a link in
-- between; a folder that user made, with a link of theirs inside, needs no race at all.
-- Every lock kind must reach its folder by descriptor and never create, write or remove
-- anything in the folder such links point to. The second user is real (useradd); the
-- flipper is a small C program run as that user.
local baton = require "baton"
local H = require "helpers"
local U = require "helpers.user"

local USER = "batonrace1"
local IS_ROOT = U.IS_ROOT
local user = U.new(USER) -- made in setup
local RACE_SECONDS = 3

local flipper

local FLIPPER = [[
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    time_t end = time(NULL) + atoi(argv[3]);
    while (time(NULL) < end)
        for (int i = 0; i < 1000; i++) {
            (void)symlink(argv[2], argv[1]);
            (void)unlink(argv[1]);
        }
    return 0;
}
]]

local function as_user(cmd)
  return user:as(cmd)
end

local run_ok = H.run_ok

-- What must not change in the root-only folder: its entries and its own times (any entry
-- created or removed there, even briefly, moves its mtime), and the canary's inode.
local function fingerprint(dir)
  return H.listing(dir) .. run_ok("stat -c '%i %y %z' " .. H.quote(dir) .. " " ..
    H.quote(dir .. "/canary"))
end

-- One attempt of every kind at `path`, released at once: a list of { kind, lock-or-nil,
-- msg, code }.
local function attempts(path)
  local out = {}
  local function add(kind, l, msg, code)
    out[#out + 1] = { kind = kind, l = l, msg = msg, code = code }
    if l then l:release() end
  end
  add("flock", baton.try_lock(path, { mkdir = false }))
  add("flock mkdir", baton.try_lock(path .. "-m"))
  add("soft", baton.try_lock(path .. "-s", { kind = "soft", mkdir = false }))
  add("soft mkdir", baton.try_lock(path .. "-sm", { kind = "soft" }))
  add("rwlock", baton.rwlock(path .. ".rw", { mkdir = false }):try_write())
  add("semaphore", baton.semaphore(path .. ".sem", 2, { mkdir = false }):try_acquire())
  return out
end

describe("lock paths another user changes meanwhile", function()
  local top, shared, target

  setup(function()
    if not IS_ROOT then return end
    user:create()
    local dir = H.tmpdir()
    run_ok("chmod 755 " .. H.quote(dir))
    H.write(dir .. "/flip.c", FLIPPER)
    flipper = dir .. "/flip"
    run_ok("cc -O2 -o " .. H.quote(flipper) .. " " .. H.quote(dir .. "/flip.c"))
  end)

  teardown(function()
    if IS_ROOT then
      H.cleanup()
      user:remove()
    end
  end)

  before_each(function()
    if not IS_ROOT then return end
    top = H.tmpdir()
    run_ok("chmod 755 " .. H.quote(top))
    shared = top .. "/shared" -- as /tmp is
    run_ok("mkdir -m 1777 " .. H.quote(shared))
    target = top .. "/secret" -- root's own folder, where the links point
    run_ok("mkdir -m 700 " .. H.quote(target) .. " && touch " .. H.quote(target .. "/canary"))
  end)

  it("creates nothing through a link flipped in and out of the path as it locks", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    local link = shared .. "/jobs"
    local before = fingerprint(target)
    local pid = H.spawn(as_user(H.quote(flipper) .. " " .. H.quote(link) .. " " ..
      H.quote(target) .. " " .. RACE_SECONDS))
    local rounds, taken, refused = 0, 0, 0
    local deadline = baton.now() + RACE_SECONDS - 0.3
    while baton.now() < deadline do
      rounds = rounds + 1
      for _, a in ipairs(attempts(link .. "/build.lock")) do
        if a.l then taken = taken + 1 elseif a.code == "ELOOP" then refused = refused + 1 end
      end
      -- a folder made by a mkdir attempt while the link was away ends the race: remove it
      -- (rm never follows the link it may meet instead)
      os.execute("rm -rf " .. H.quote(link))
    end
    H.wait_for(function() return not H.alive(pid) end, 5, "the flipper")
    assert.is_true(rounds >= 20, "only " .. rounds .. " rounds")
    assert.is_true(refused > 0, "the link was never met")
    assert.equal(before, fingerprint(target))
  end)

  it("follows no link inside another user's folder in a sticky one, for every kind", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    local proj = shared .. "/proj"
    run_ok(as_user("mkdir -m 0777 " .. H.quote(proj)))
    run_ok(as_user("ln -s " .. H.quote(target) .. " " .. H.quote(proj .. "/sub")))
    local before = fingerprint(target)
    for _, a in ipairs(attempts(proj .. "/sub/x.lock")) do
      assert.is_nil(a.l, a.kind .. " went through the link")
      assert.equal("ELOOP", a.code, a.kind .. ": " .. tostring(a.msg))
      assert.matches("'" .. proj .. "/sub'", a.msg, 1, true)
      assert.matches("lies in '" .. proj .. "', a folder of uid " .. user.uid, a.msg, 1, true)
      assert.matches("sticky folder '" .. shared .. "'", a.msg, 1, true)
    end
    -- deeper, with folders to make beneath the link
    for _, a in ipairs(attempts(proj .. "/sub/a/b/x.lock")) do
      assert.is_nil(a.l, a.kind .. " went through the link")
      assert.equal("ELOOP", a.code, a.kind .. ": " .. tostring(a.msg))
    end
    H.raises("a link there is not followed", baton.lock, proj .. "/sub/x.lock")
    assert.equal(before, fingerprint(target))
    -- without a link, that folder still takes locks (nothing can steer the path there)
    for _, a in ipairs(attempts(proj .. "/x.lock")) do
      assert.is_truthy(a.l, a.kind .. ": " .. tostring(a.msg))
    end
  end)

  it("still follows root's own link, and the user's links in the user's own folder", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    run_ok("mkdir -m 755 " .. H.quote(top .. "/mine"))
    run_ok("ln -s " .. H.quote(top .. "/mine") .. " " .. H.quote(shared .. "/root-link"))
    for _, a in ipairs(attempts(shared .. "/root-link/x.lock")) do
      assert.is_truthy(a.l, a.kind .. ": " .. tostring(a.msg))
    end
    assert.matches("x.lock", run_ok("ls " .. H.quote(top .. "/mine")), 1, true)
    -- the user, in a folder of the user's own inside the sticky one, through the user's link
    local proj = shared .. "/proj"
    run_ok(as_user("mkdir -m 0755 " .. H.quote(proj) .. " " .. H.quote(proj .. "/real")))
    run_ok(as_user("ln -s real " .. H.quote(proj .. "/sub")))
    local script = H.script([[
      local baton = require "baton"
      local p = arg[1]
      local function check(kind, l, msg) assert(l, kind .. ": " .. tostring(msg)); l:release() end
      check("flock", baton.try_lock(p, { mkdir = false }))
      check("flock mkdir", baton.try_lock(p .. ".d/x"))
      check("soft", baton.try_lock(p .. "-s", { kind = "soft" }))
      check("rwlock", baton.rwlock(p .. ".rw"):try_write())
      check("semaphore", baton.semaphore(p .. ".sem", 2):try_acquire())
      print("ok")
    ]])
    run_ok("chmod 755 " .. H.quote(script:match("^(.*)/")) .. " && chmod 644 " .. H.quote(script))
    local out = run_ok(as_user(H.lua_cmd(script, proj .. "/sub/x.lock")))
    assert.matches("ok", out, 1, true)
    assert.matches("x.lock", run_ok("ls " .. H.quote(proj .. "/real")), 1, true)
  end)
end)
