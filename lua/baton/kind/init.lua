-- The kind registry: the kind of a path and an `opts.kind` name, and every kind installed.
--
-- A kind is one file lua/baton/kind/NAME.lua (plus its C) returning its declaration:
--   name      "NAME"
--   noun      "flock locks", for messages
--   schemes   { "etcd", "etcds" }: paths SCHEME://... are locks of this kind (optional)
--   files     false when its locks are no files (nothing to lstat), else absent
--   options   the options it takes beyond the wait's; why: why it refuses some (options.lua)
--   open      open(path, opts, fname) -> handle (see lua/baton/lock.lua)
--   holder    holder(path, asked) -> who holds a lock of this kind at `path` (holder.lua)
--   probe     where baton.holder looks for this kind when no kind is asked (lower first);
--             absent: only when asked for or claimed by its scheme
--   askable   false when baton.holder's `kind` option cannot name it
--   here      here(path) -> a phrase when this process holds the lock at `path` through
--             another object, for a wait that could never end (optional)
local core = require "baton.core"

local M = {}

local PREFIX = "baton.kind."
local loaded = {} -- name -> declaration

local function valid(name)
  return type(name) == "string" and name:match("^[%a_][%w_]*$") ~= nil and name ~= "init"
end

-- The kind called `name`, or nil when no file declares it. A kind file that fails to load
-- raises its own error, every time it is asked for.
function M.find(name)
  local k = loaded[name]
  if k then return k end
  if not valid(name) then return nil end
  local mod = PREFIX .. name
  local ok, r = pcall(require, mod)
  if not ok then
    package.loaded[mod] = nil -- Lua 5.1 leaves a mark that would hide the error next time
    if type(r) == "string" and r:find("module '" .. mod .. "' not found", 1, true) then
      return nil
    end
    error(r, 0)
  end
  if type(r) ~= "table" or type(r.open) ~= "function" then
    error(string.format("baton: %s is no kind of lock: it returned %s without an open function",
      mod, type(r)), 0)
  end
  r.name = r.name or name
  loaded[name] = r
  return r
end

-- The kind `name`, raising `fname: unknown lock kind 'name' (lock 'path')` at `level` when
-- there is none.
function M.named(name, fname, path, level)
  local k = M.find(name)
  if not k then
    error(string.format("%s: unknown lock kind '%s' (lock '%s')", fname, tostring(name),
      tostring(path)), level + 1)
  end
  return k
end

-- The names of the kind files installed: those baton's executable carries, and those in a
-- folder baton/kind/ under any of package.path's templates.
local function installed()
  local names, seen = {}, {}
  local function add(n)
    if valid(n) and not seen[n] then
      seen[n] = true
      names[#names + 1] = n
    end
  end
  for _, t in ipairs({ package.preload, package.loaded }) do
    for key in pairs(t) do
      local n = type(key) == "string" and key:match("^baton%.kind%.([%w_]+)$")
      if n then add(n) end
    end
  end
  local listed = true
  for template in package.path:gmatch("[^;]+") do
    local dir = template:gsub("%?", "baton/kind/_NAME_"):match("^(.*/)_NAME_%.lua$")
    if dir and not seen[dir] then
      seen[dir] = true
      local entries = core.list_dir(dir)
      if entries then
        for _, entry in ipairs(entries) do
          local n = entry:match("^([%w_]+)%.lua$")
          if n then add(n) end
        end
      end
    end
  end
  table.sort(names)
  return names, listed
end

local all
-- Every installed kind, by name.
function M.all()
  if all then return all end
  local names, listed = installed()
  local list = {}
  for _, n in ipairs(names) do list[#list + 1] = M.find(n) end
  if listed then all = list end
  return list
end

local schemes
-- The kind that claims the scheme of `path` (etcd://...), or nil.
function M.claimed(path)
  local scheme = path:match("^(%a[%w+.-]*)://")
  if not scheme then return nil end
  local map = schemes
  if not map then
    map = {}
    for _, k in ipairs(M.all()) do
      for _, s in ipairs(k.schemes or {}) do map[s] = k end
    end
    if all then schemes = map end -- kept once every kind is known
  end
  return map[scheme]
end

-- The kind of a lock object at `path` with the `kind` option `name` (nil when not given):
-- that kind, else the one claiming the path's scheme, else flock.
function M.resolve(path, name, fname, level)
  if name ~= nil then return M.named(name, fname, path, level + 1) end
  return M.claimed(path) or M.named("flock", fname, path, level + 1)
end

-- True when the lock at `path` is of a kind whose locks are no files (an etcd lock).
function M.fileless(path)
  local k = M.claimed(path)
  return k ~= nil and k.files == false
end

-- The kinds baton.holder looks for where none is asked, in its order.
function M.probed()
  local list = {}
  for _, k in ipairs(M.all()) do
    if k.holder and k.probe then list[#list + 1] = k end
  end
  table.sort(list, function(a, b) return a.probe < b.probe end)
  return list
end

return M
