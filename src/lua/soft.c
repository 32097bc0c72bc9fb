/* baton.core.soft: the soft lock handle (core/soft_lock.h) through the generic handle. */
#include <string.h>

#include "../core/soft_lock.h"
#include "binding.h"

/* core.soft(path, mode, make_parents, stale_after) -> handle, not yet locked.
 * stale_after: seconds, or nil/negative for never. */
static int l_soft(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    lua_Number stale_after = luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, stale_after == stale_after, 4, "stale_after must not be NaN");
    bt_handle *h = bt_lua_new_handle(L, &bt_soft_kind, path, strlen(path));
    bt_soft_init((bt_soft *)bt_handle_state(h), mode, make_parents, (double)stale_after);
    h->open = 1;
    return 1;
}

void bt_lua_open_soft(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_soft_kind, NULL);
    bt_lua_set_constructor(L, &bt_soft_kind, "soft", l_soft);
}
