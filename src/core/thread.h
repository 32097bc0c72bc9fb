/* Starting a helper thread (a lease's heartbeat, an etcd keep-alive) that never takes a
 * signal: signals belong to the Lua thread, whose hooks act on them. Header only, so that
 * the optional etcd module shares it without linking the core. */
#ifndef BT_THREAD_H
#define BT_THREAD_H

#include <pthread.h>
#include <signal.h>

/* pthread_create with every signal blocked in the new thread: 0, or its error number. */
static inline int bt_thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits this mask */
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

#endif
