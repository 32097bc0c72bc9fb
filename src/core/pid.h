/* The calling process's id, without a system call on every lock and unlock. */
#ifndef BT_PID_H
#define BT_PID_H

#include <sys/types.h>

pid_t bt_pid(void);

#endif
