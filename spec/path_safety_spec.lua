-- Lock paths through world-writable sticky folders: a symbolic link that another user
-- planted there (/tmp/jobs -> /root/x) must not steer root's locks into its target, for any
-- kind of lock and for the creation of missing folders. Links the kernel's protected_symlinks
-- rule lets root follow (its own, or the folder owner's) are still followed. The second user
-- is real (useradd), and its links are made by its own processes.
local baton = require "baton"
local H = require "helpers"
local U = require "helpers.user"

local USER = "batonpath1"
local IS_ROOT = U.IS_ROOT
local user = U.new(USER) -- made in setup

local function as_user(cmd)
  return user:as(cmd)
end

local run_ok = H.run_ok

local listing = H.listing

-- Every kind of lock at `path`, one attempt each: a list of { kind, lock-or-nil, msg, code }.
local function attempts(path)
  local out = {}
  local function add(kind, l, msg, code)
    out[#out + 1] = { kind = kind, l = l, msg = msg, code = code }
    if l then l:release() end
  end
  add("soft", baton.try_lock(path, { kind = "soft" }))
  add("flock", baton.try_lock(path))
  add("rwlock", baton.rwlock(path .. ".rw"):try_write())
  add("semaphore", baton.semaphore(path .. ".sem", 2):try_acquire())
  return out
end

local function refused(path, link)
  for _, a in ipairs(attempts(path)) do
    assert.is_nil(a.l, a.kind .. " went through the planted link")
    assert.equal("ELOOP", a.code, a.kind .. ": " .. tostring(a.msg))
    assert.matches("'" .. link .. "'", a.msg, 1, true)
    assert.matches("symbolic link", a.msg, 1, true)
  end
end

local function followed(path)
  for _, a in ipairs(attempts(path)) do
    assert.is_truthy(a.l, a.kind .. ": " .. tostring(a.msg))
  end
end

describe("lock paths through a world-writable sticky folder", function()
  local top, shared, target

  setup(function() user:create() end)
  teardown(function() user:remove() end)

  before_each(function()
    top = H.tmpdir()
    run_ok("chmod 755 " .. H.quote(top))
    shared = top .. "/shared" -- as /tmp is
    run_ok("mkdir -m 1777 " .. H.quote(shared))
    target = top .. "/target" -- root's own folder, where the planted links point
    run_ok("mkdir -m 755 " .. H.quote(target))
  end)
  after_each(function()
    collectgarbage() -- let go of lock objects a failed test left behind
    H.cleanup()
  end)

  it("refuses a link another user planted, for every kind, and creates nothing in its target", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    local link = shared .. "/jobs"
    run_ok(as_user("ln -s " .. H.quote(target) .. " " .. H.quote(link)))
    refused(link .. "/build.lock", link)
    -- the folder of the lock is missing: mkdir -p must not create it through the link
    refused(link .. "/sub/deeper/build.lock", link)
    H.raises("symbolic link", baton.soft_lock, link .. "/build.lock")
    H.raises("symbolic link", baton.lock, link .. "/build.lock")
    assert.equal("", listing(target))
  end)

  it("refuses it also deeper in the path, and behind a link of root's that leads to it", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    run_ok("mkdir -p " .. H.quote(top .. "/a"))
    local link = shared .. "/jobs"
    run_ok(as_user("ln -s " .. H.quote(target) .. " " .. H.quote(link)))
    -- root's own link to the planted one: following root's link leads through the other
    run_ok("ln -s " .. H.quote(shared .. "/jobs/x") .. " " .. H.quote(top .. "/a/via"))
    run_ok("mkdir " .. H.quote(target .. "/x"))
    refused(top .. "/a/via/build.lock", link)
    -- a relative planted link in a sticky folder beneath a plain one
    run_ok("mkdir -m 1777 " .. H.quote(top .. "/a/pub"))
    run_ok(as_user("ln -s ../../target " .. H.quote(top .. "/a/pub/rel")))
    refused(top .. "/a/pub/rel/x/build.lock", top .. "/a/pub/rel")
    assert.equal("x\n", listing(target))
    assert.equal("", listing(target .. "/x"))
  end)

  it("follows a link owned by root, or by the folder's owner", function()
    if not IS_ROOT then return pending("needs root to create a second user") end
    run_ok("ln -s " .. H.quote(target) .. " " .. H.quote(shared .. "/mine"))
    followed(shared .. "/mine/build.lock")
    followed(shared .. "/mine/new/build.lock")
    assert.is_truthy(listing(target):match("build%.lock"))
    assert.is_truthy(listing(target .. "/new"):match("build%.lock"))
    -- a sticky world-writable folder owned by the other user, with that user's link in it
    local theirs = top .. "/theirs"
    run_ok("mkdir -m 1777 " .. H.quote(theirs) .. " && chown " .. user.uid .. " " .. H.quote(theirs))
    run_ok(as_user("mkdir " .. H.quote(top .. "/theirs/box")))
    run_ok(as_user("ln -s box " .. H.quote(theirs .. "/jobs")))
    followed(theirs .. "/jobs/build.lock")
    assert.is_truthy(listing(theirs .. "/box"):match("build%.lock"))
    -- and a link in a folder that is not sticky and world-writable is the folder owner's say
    run_ok("mkdir -m 755 " .. H.quote(top .. "/plain"))
    run_ok("ln -s ../target " .. H.quote(top .. "/plain/t") .. " && chown -h " .. user.uid .. " " ..
      H.quote(top .. "/plain/t"))
    followed(top .. "/plain/t/other.lock")
  end)
end)
