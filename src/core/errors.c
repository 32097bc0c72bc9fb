/* Failures of the core: bt_fail fills a bt_err; errno values to their symbolic names, so
 * scripts match on "EACCES", not on a locale's text. */
#include "errors.h"

#include <errno.h>
#include <stdio.h>

#define NAME(e) case e: return #e

const char *bt_errno_name(int code, char buf[16]) {
    switch (code) {
        NAME(EPERM); NAME(ENOENT); NAME(ESRCH); NAME(EINTR); NAME(EIO); NAME(ENXIO);
        NAME(EBADF); NAME(EAGAIN); NAME(ENOMEM); NAME(EACCES); NAME(EFAULT); NAME(EBUSY);
        NAME(EEXIST); NAME(EXDEV); NAME(ENODEV); NAME(ENOTDIR); NAME(EISDIR); NAME(EINVAL);
        NAME(ENFILE); NAME(EMFILE); NAME(ETXTBSY); NAME(EFBIG); NAME(ENOSPC); NAME(ESPIPE);
        NAME(EROFS); NAME(EMLINK); NAME(ENAMETOOLONG); NAME(ENOLCK); NAME(ENOSYS);
        NAME(ENOTEMPTY); NAME(ELOOP); NAME(EOVERFLOW); NAME(EOPNOTSUPP);
        NAME(ETIMEDOUT); NAME(ECONNREFUSED); NAME(EDEADLK);
        NAME(EPIPE); NAME(ECHILD); NAME(E2BIG); NAME(ENOEXEC);
#ifdef EDQUOT /* not in Windows' C library, as ESTALE */
        NAME(EDQUOT);
#endif
#ifdef ESTALE
        NAME(ESTALE);
#endif
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
        NAME(EWOULDBLOCK);
#endif
    default:
        snprintf(buf, 16, "E%d", code);
        return buf;
    }
}

int bt_fail(bt_err *err, const char *op, int code, const char *detail) {
    err->op = op;
    err->code = code;
    err->detail = detail;
    return BT_FAIL;
}
