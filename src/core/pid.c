/* getpid() costs a system call, and every release asks it (a forked child must not unlock
 * its parent's lock). The answer is cached on a page the kernel wipes in a forked child
 * (MADV_WIPEONFORK, Linux 4.14+), so the cache can never outlive a fork. Where that is not
 * available, getpid() is asked every time. The page is never unmapped: a later dlclose()
 * of the module must not leave anyone pointing at freed memory. */
#define _GNU_SOURCE
#include "pid.h"

#include <sys/mman.h>
#include <unistd.h>

#ifdef MADV_WIPEONFORK
static volatile pid_t *cache;
static int unavailable;
#endif

pid_t bt_pid(void) {
#ifdef MADV_WIPEONFORK
    if (cache) {
        pid_t p = *cache;
        if (p)
            return p;
        return *cache = getpid();
    }
    if (!unavailable) {
        long size = sysconf(_SC_PAGESIZE);
        void *page = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
        if (page != MAP_FAILED && madvise(page, (size_t)size, MADV_WIPEONFORK) == 0) {
            cache = (volatile pid_t *)page;
            return *cache = getpid();
        }
        if (page != MAP_FAILED)
            munmap(page, (size_t)size);
        unavailable = 1;
    }
#endif
    return getpid();
}
