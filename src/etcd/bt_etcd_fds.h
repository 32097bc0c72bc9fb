/* libcurl before 8.8 makes the socket pair that wakes a multi handle (one per multi, and one
 * inside every easy handle on its first transfer) without close-on-exec, so every command a
 * lock holder starts would inherit them. Around the calls that make them, note which
 * descriptors are open, then mark the Unix-domain sockets that appeared close-on-exec. */
#ifndef BT_ETCD_FDS_H
#define BT_ETCD_FDS_H

#define BT_FDS_TRACKED 4096 /* descriptors above this are left alone */

typedef struct bt_fds {
    unsigned char open[BT_FDS_TRACKED / 8];
} bt_fds;

/* Note the descriptors open now. */
void bt_fds_note(bt_fds *before);

/* Set FD_CLOEXEC on the Unix-domain sockets opened since bt_fds_note that lack it. */
void bt_fds_seal(const bt_fds *before);

#endif
