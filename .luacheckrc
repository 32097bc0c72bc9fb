-- luacheck's settings for lua/ and spec/ (`make lint`).
std = "max"
-- plain output however it is run (`luacheck lua spec` as well as `make lint`), so that its
-- summary reads the same to people and to programs
color = false
max_line_length = 120
-- ngx (OpenResty) and vim (Neovim) are the hosts' globals; newproxy is Lua 5.1's.
read_globals = { "ngx", "vim", "jit", "newproxy" }
files["spec"] = {
  std = "+busted",
  max_line_length = 140,
}
