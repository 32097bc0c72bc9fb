/* core.platform, in every build of baton.core (not in baton.etcd_core, which has no platform
 * backend linked). */
#include "../core/os/os.h"
#include "binding.h"

/* core.platform: { name =, lock_table =, openers =, cmdline =, started = }, what the
 * holder lookup can know on this system (os.h's BT_KNOWS_*), pushed. */
void bt_lua_push_platform(lua_State *L) {
    static const struct {
        const char *name;
        int bit;
    } facts[] = {{"lock_table", BT_KNOWS_LOCK_TABLE},
                 {"openers", BT_KNOWS_OPENERS},
                 {"cmdline", BT_KNOWS_CMDLINE},
                 {"started", BT_KNOWS_STARTED}};
    int knows = bt_os_knows();
    lua_createtable(L, 0, 5);
    lua_pushstring(L, bt_os_name());
    lua_setfield(L, -2, "name");
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        lua_pushboolean(L, (knows & facts[i].bit) != 0);
        lua_setfield(L, -2, facts[i].name);
    }
}
