/* Error reporting shared by the C core: an operation name and an errno value. */
#ifndef BT_ERRORS_H
#define BT_ERRORS_H

/* What a core call returns. */
enum {
    BT_OK = 0,    /* done: the lock is held */
    BT_BUSY = 1,  /* someone else holds it; nothing went wrong */
    BT_FAIL = -1  /* a system error, described by a bt_err */
};

typedef struct bt_err {
    const char *op; /* what failed, e.g. "open", "lock", "create folder for" */
    int code;       /* errno value */
    const char *detail; /* set when strerror(code) would not say what is wrong */
} bt_err;

/* Fill *err (what failed, the errno value, a detail or NULL) and return BT_FAIL: how every
 * core function reports a failure. */
int bt_fail(bt_err *err, const char *op, int code, const char *detail);

/* The symbolic name of an errno value ("EACCES"), or "E<number>" for unknown ones.
 * The buffer is used only for unknown values and must hold 16 bytes. */
const char *bt_errno_name(int code, char buf[16]);

#endif
