/* Starting a helper thread (a lease's heartbeat, an etcd keep-alive) that never takes a
 * signal: signals belong to the Lua thread, whose hooks act on them; and the mutex and
 * condition variable that stop it, timed on bt_now()'s clock. Header only, so that the
 * optional etcd module shares it without linking the core. */
#ifndef BT_THREAD_H
#define BT_THREAD_H

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

/* pthread_create with every signal blocked in the new thread: 0, or its error number. */
static inline int bt_thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits this mask */
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* `cv` on CLOCK_MONOTONIC (bt_now()'s clock) and `mu`: 0, or the error number (nothing is
 * left to destroy then). */
static inline int bt_sync_init(pthread_cond_t *cv, pthread_mutex_t *mu) {
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && (rc = pthread_mutex_init(mu, NULL)) != 0)
        pthread_cond_destroy(cv);
    return rc;
}

/* Under `mu`: wait on `cv` (from bt_sync_init) until it is signalled or bt_now() reaches
 * `when`. */
static inline void bt_sync_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double when) {
    struct timespec ts;
    double whole = floor(when);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((when - whole) * 1e9);
    pthread_cond_timedwait(cv, mu, &ts);
}

#endif
