/* etcd lock paths: etcd://HOST[:PORT][,HOST[:PORT]...]/NAME (plain HTTP) or etcds://... (TLS).
 * NAME is the lock's name as `etcdctl lock NAME` knows it; its keys live under the prefix
 * "NAME/". The URL also carries how to reach the cluster: certificates and credentials. */
#ifndef BT_ETCD_URL_H
#define BT_ETCD_URL_H

#include <stddef.h>

#define BT_ETCD_MAX_ENDPOINTS 8
#define BT_ETCD_DEFAULT_PORT 2379

/* How to talk to the cluster, beyond the path: all optional (NULL / 0). */
typedef struct bt_etcd_conf {
    const char *cacert;   /* PEM file of the CAs that sign the members' certificates */
    const char *cert;     /* PEM file of our client certificate */
    const char *key;      /* PEM file of its private key */
    int insecure;         /* TLS without checking the members' certificates */
    const char *user;     /* etcd user authentication */
    const char *password;
} bt_etcd_conf;

typedef struct bt_etcd_url {
    int n;                                /* number of endpoints */
    char *base[BT_ETCD_MAX_ENDPOINTS];    /* "http[s]://HOST:PORT", for requests */
    char *endpoints;                      /* "HOST:PORT,HOST:PORT", for messages */
    char *name;                           /* the lock's name */
    char *prefix;                         /* NAME "/": where the lock's keys live */
    int tls;                              /* etcds:// */
    char *cacert, *cert, *key;            /* copies of bt_etcd_conf's */
    int insecure;
    char *user, *password;
} bt_etcd_url;

/* Parse `path`. On failure returns -1 and writes why into `why` (the URL is left empty). */
int bt_etcd_url_parse(const char *path, bt_etcd_url *u, char *why, size_t whylen);

/* Take the certificates and credentials of `conf` (copied; NULL: none). -1 with `why` when
 * they do not fit the path (certificates for a plain etcd:// path, a user without a
 * password) or memory runs out. */
int bt_etcd_url_configure(bt_etcd_url *u, const bt_etcd_conf *conf, char *why, size_t whylen);

/* The endpoint `i` without its scheme, for messages. */
const char *bt_etcd_url_ep(const bt_etcd_url *u, int i);

void bt_etcd_url_free(bt_etcd_url *u);

#endif
