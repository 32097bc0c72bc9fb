-- luacheck's settings for lua/ and spec/ (`make lint`).
std = "max"
max_line_length = 120
-- ngx (OpenResty) and vim (Neovim) are the hosts' globals; newproxy is Lua 5.1's.
read_globals = { "ngx", "vim", "jit", "newproxy" }
-- lua/baton/cli.lua names a second call's results by defining its locals again (W411, there
-- only).
files["lua/baton/cli.lua"] = { ignore = { "411" } }
files["spec"] = {
  std = "+busted",
  max_line_length = 140,
}
