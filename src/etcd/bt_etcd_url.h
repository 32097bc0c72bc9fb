/* etcd lock paths: etcd://HOST[:PORT][,HOST[:PORT]...]/NAME. NAME is the lock's name as
 * `etcdctl lock NAME` knows it; its keys live under the prefix "NAME/". */
#ifndef BT_ETCD_URL_H
#define BT_ETCD_URL_H

#include <stddef.h>

#define BT_ETCD_MAX_ENDPOINTS 8
#define BT_ETCD_DEFAULT_PORT 2379

typedef struct bt_etcd_url {
    int n;                                /* number of endpoints */
    char *base[BT_ETCD_MAX_ENDPOINTS];    /* "http://HOST:PORT", for requests */
    char *endpoints;                      /* "HOST:PORT,HOST:PORT", for messages */
    char *name;                           /* the lock's name */
    char *prefix;                         /* NAME "/": where the lock's keys live */
} bt_etcd_url;

/* Parse `path`. On failure returns -1 and writes why into `why` (the URL is left empty). */
int bt_etcd_url_parse(const char *path, bt_etcd_url *u, char *why, size_t whylen);

void bt_etcd_url_free(bt_etcd_url *u);

#endif
