-- A second Unix user for specs about users who do not trust each other: made with useradd
-- (a name unique to the spec file), removed with userdel, and commands run as it through
-- setpriv. Only root can make one: specs check IS_ROOT and go pending otherwise.
--
--   local user = U.new("batonsoft1")
--   setup(function() user:create() end)       -- does nothing unless root
--   teardown(function() user:remove() end)
--   H.run(user:as("ln -s a b"))               -- user.uid, user.gid once created
local H = require "helpers"

local U = {}

U.IS_ROOT = H.read("/proc/self/status"):match("\nUid:%s+(%d+)") == "0"

local User = {}
User.__index = User

function U.new(name)
  return setmetatable({ name = name }, User)
end

local function id(flag, name)
  local _, out = H.run("id " .. flag .. " " .. name)
  return tonumber(out:match("%d+"))
end

-- Make the user afresh (one an earlier run left behind is removed first); root only.
function User:create()
  if not U.IS_ROOT then return end
  os.execute("userdel -r " .. self.name .. " >/dev/null 2>&1")
  H.run_ok("useradd -M -s /usr/sbin/nologin " .. self.name)
  self.uid, self.gid = id("-u", self.name), id("-g", self.name)
end

function User:remove()
  if U.IS_ROOT then os.execute("userdel -r " .. self.name .. " >/dev/null 2>&1") end
end

-- The shell command `cmd` run as this user, with no supplementary groups.
function User:as(cmd)
  return string.format("setpriv --reuid=%d --regid=%d --clear-groups -- %s", self.uid, self.gid,
    cmd)
end

return U
