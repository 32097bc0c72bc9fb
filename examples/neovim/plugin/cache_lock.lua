-- Loaded by Neovim at start-up when examples/neovim is on 'runtimepath'.
vim.api.nvim_create_user_command("CacheRefresh", function() require("cache_lock").refresh() end,
  { desc = "Refresh the shared cache, one Neovim at a time" })
