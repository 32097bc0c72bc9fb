-- luacheck's settings for lua/ and spec/ (`make lint`).
std = "max"
max_line_length = 120
-- ngx (OpenResty) and vim (Neovim) are the hosts' globals; newproxy is Lua 5.1's.
read_globals = { "ngx", "vim", "jit", "newproxy" }
ignore = {
  "411", -- a local defined again in the same scope: how a second call's results are named
}
files["spec"] = {
  std = "+busted",
  max_line_length = 140,
  ignore = {
    "311", -- a result assigned and not looked at: specs name what a call returns
    "241", -- tables filled to keep objects alive
    "421", "431", -- shadowing in nested test bodies
    "122", -- specs swap io.stderr to capture it
  },
}
