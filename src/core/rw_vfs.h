/* The SQLite VFS that read/write lock connections use: SQLite's own unix VFS (win32 on
 * Windows), with its locks unchanged (so the locks are the very ones every other SQLite
 * client takes on the file), made unable to change anything on disk.
 *
 * SQLite looks for a rollback journal (PATH-journal) and a WAL file (PATH-wal) beside a
 * database whenever it takes a SHARED lock, and acts on what it finds: it plays a hot
 * journal back into the database, and deletes a journal or WAL file it judges stale. A lock
 * must do neither, to a database or to files that may belong to someone else. Through this
 * VFS, SQLite
 *   - sees no file beside the database (xAccess answers "no such file" for every name),
 *   - opens no file but the database itself (no journal, WAL, temporary or super-journal
 *     file is ever opened or created),
 *   - deletes nothing (xDelete refuses),
 *   - cannot change the database: writes and truncations fail with an I/O error, and the
 *     size hint that would grow the file is ignored. */
#ifndef BT_RWVFS_H
#define BT_RWVFS_H

/* The name of the VFS, registered with SQLite on the first call (never as the default), or
 * NULL when SQLite has no such VFS to wrap. Safe to call from several threads. */
const char *bt_rwvfs_name(void);

#endif
