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
