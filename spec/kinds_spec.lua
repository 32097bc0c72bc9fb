-- The kind registry: kinds found as files, claiming schemes, asked by name; load errors shown.
-- Each case runs in a child interpreter with an extra folder of kind files on its path, so
-- that what the registry learns stays in that child.
local H = require "helpers"

describe("the kind registry", function()
  local dir

  before_each(function()
    dir = H.tmpdir()
    os.execute("mkdir -p " .. H.quote(dir .. "/lib/baton/kind"))
  end)
  after_each(H.cleanup)

  -- Run `code` in a child whose package.path also holds `dir`/lib; its output.
  local function child(code)
    local script = H.script("package.path = " .. string.format("%q", dir .. "/lib/?.lua;")
      .. " .. package.path\n" .. code)
    local status, out = H.run(H.lua_cmd(script))
    assert.equal(0, status, out)
    return out
  end

  local DEMO = [[
-- A kind for the spec: flock locks under another name, claiming demo:// paths.
local core = require "baton.core"
return {
  name = "demo", noun = "demo locks", schemes = { "demo" }, options = { shared = true },
  open = function(path, o)
    return core.flock((path:gsub("^demo://", "")), o.shared or false, 438, true)
  end,
  holder = function(path) return { kind = "demo", pid = 1, holders = {}, path = path } end,
}
]]

  it("finds a kind by its file alone: its scheme, its name and its holder", function()
    H.write(dir .. "/lib/baton/kind/demo.lua", DEMO)
    local out = child(string.format([[
local baton = require "baton"
local file = %q
local l = baton.lock("demo://" .. file)
print(l.kind, l:is_locked())
l:release()
local m = baton.new(file, { kind = "demo", shared = true })
print(m.kind)
print(baton.holder("demo://" .. file).kind)
print(pcall(baton.new, file, { kind = "demo", ttl = 1 }))
]], dir .. "/x.lock"))
    assert.matches("demo\ttrue\n", out, 1, true)
    assert.matches("\ndemo\n", out, 1, true)
    assert.matches("option 'ttl' does not apply to demo locks", out, 1, true)
  end)

  it("raises a kind file's own error, every time it is asked for", function()
    H.write(dir .. "/lib/baton/kind/broken.lua", 'error("broken kind: no C module here")\n')
    local out = child(string.format([[
local baton = require "baton"
for _ = 1, 2 do
  local ok, err = pcall(baton.new, %q, { kind = "broken" })
  print(ok, err)
end
]], dir .. "/y.lock"))
    local _, n = out:gsub("false\t[^\n]*broken kind: no C module here", "")
    assert.equal(2, n, out)
    assert.no.matches("unknown lock kind", out, 1, true)
  end)

  it("names an unknown kind as misuse", function()
    local out = child(string.format([[
local baton = require "baton"
print(pcall(baton.new, %q, { kind = "nosuch" }))
]], dir .. "/z.lock"))
    assert.matches("baton.new: unknown lock kind 'nosuch' (lock '" .. dir .. "/z.lock')", out, 1, true)
  end)
end)
