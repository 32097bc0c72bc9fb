-- Installing through LuaRocks, offline, and using only the installed tree.
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."

describe("luarocks make #hosts", function()
  after_each(H.cleanup)

  for _, v in ipairs({ "5.4", "5.1" }) do
    it("installs a module that lua" .. v .. " loads from the tree alone", function()
      if (H.run("command -v luarocks && command -v lua" .. v)) ~= 0 then
        return pending("needs luarocks and lua" .. v)
      end
      local tree = H.tmpdir() .. "/tree"
      local code, out = H.run(string.format("cd %s && luarocks --lua-version %s make --tree %s",
        H.quote(ROOT), v, H.quote(tree)))
      assert.equal(0, code, out)
      local lockp = tree .. "/probe.lock"
      code, out = H.run(string.format(
        "env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 lua%s -e %s", v,
        H.quote(string.format([[
          package.path = %q .. "/share/lua/%s/?.lua;" .. %q .. "/share/lua/%s/?/init.lua"
          package.cpath = %q .. "/lib/lua/%s/?.so"
          local baton = require "baton"
          local l = baton.lock(%q, { timeout = 1 })
          print(package.searchpath and package.searchpath("baton.core", package.cpath) or "", l:is_locked())
        ]], tree, v, tree, v, tree, v, lockp))))
      assert.equal(0, code, out)
      assert.matches("true", out)
    end)
  end
end)

-- LuaRocks builds the Windows rock itself ("builtin"): its lists must name what the Makefile
-- builds there and every Lua file of the layer, or a Windows install would miss a part.
describe("the rockspec's Windows build", function()
  local spec = {}
  local rs = assert(io.open(ROOT .. "/baton-scm-1.rockspec"))
  local text = rs:read("*a")
  rs:close()
  if setfenv then -- Lua 5.1, LuaJIT: the rockspec's globals go into `spec`
    setfenv(assert(loadstring(text, "=rockspec")), spec)()
  else
    assert(load(text, "=rockspec", "t", spec))()
  end
  local win = spec.build.platforms.windows

  local function lines(cmd)
    local set, p = {}, assert(io.popen(cmd))
    for line in p:lines() do set[line] = true end
    p:close()
    return set
  end

  it("compiles baton.core from the Makefile's Windows sources", function()
    local listed = {}
    for _, f in ipairs(win.modules["baton.core"].sources) do listed[f] = true end
    assert.same(lines("make -s --no-print-directory -C " .. H.quote(ROOT) .. " sources PLATFORM=windows"), listed)
  end)

  it("installs every Lua module under its name", function()
    local want = {}
    for f in pairs(lines("cd " .. H.quote(ROOT) .. " && ls lua/baton/*.lua lua/baton/*/*.lua")) do
      want[(f:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))] = f
    end
    local got = {}
    for name, src in pairs(win.modules) do
      if type(src) == "string" then got[name] = src end
    end
    assert.same(want, got)
  end)
end)
