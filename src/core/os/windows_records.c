/* Holder records on Windows (windows_records.h). Each lock file that baton processes hold has
 * one table in named shared memory, Local\baton-VVVVVVVV-HHHHHHHHLLLLLLLL (the file's volume
 * serial and file index: however the path is spelt, one file is one name), made by the first
 * holder with CreateFileMappingW and kept by every holder's handle on it, so it vanishes with
 * the last holder and nothing is left behind by one that is killed. A holder claims a slot
 * with an interlocked exchange of its pid (a slot of a process that no longer runs with the
 * start time it recorded is claimed anew), and writes it under a sequence counter that is odd
 * while it writes; a reader copies each slot between two reads of the counter and keeps only
 * a settled copy, so a table scribbled over yields no record, never a crash. A reader trusts
 * a record only while its process runs with the start time it recorded: a recycled pid
 * never inherits one. Nothing is ever written into the lock file or beside it. */
#include "windows_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../pid.h"

#define SLOTS 64
#define MAGIC "baton-records-1"
#define MAX_HELD 128

typedef struct slot {
    volatile LONG seq; /* odd while its owner writes it */
    volatile LONG pid; /* 0: free */
    unsigned long long token;
    LONG kind, shared;
    double since;
    LONG note_len; /* -1: no note */
    char note[BT_RECORD_NOTE];
    LONG cmd_len;
    char cmd[BT_WIN_RECORD_CMD];
} slot;

typedef struct table {
    char magic[16];
    slot s[SLOTS];
} table;

/* The records this process published: the table's handle and view, and its slot. */
static struct held {
    HANDLE map;
    table *view;
    int slot;
} held[MAX_HELD];
static SRWLOCK held_guard = SRWLOCK_INIT;

static void name_of(const bt_win_id *id, wchar_t out[64]) {
    swprintf(out, 64, L"Local\\baton-%08lx-%08lx%08lx", (unsigned long)id->volume,
             (unsigned long)id->high, (unsigned long)id->low);
}

static unsigned long long ticks_of(const FILETIME *t) {
    return ((unsigned long long)t->dwHighDateTime << 32) | t->dwLowDateTime;
}

/* Process `pid`'s creation time in 100 ns ticks, or 0 when it is gone (exited, or no such
 * process) or cannot be asked. */
static unsigned long long creation_of(long pid) {
    HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (!p)
        return 0;
    FILETIME created, ended, kernel, user;
    DWORD code;
    unsigned long long t = 0;
    if (GetExitCodeProcess(p, &code) && code == STILL_ACTIVE &&
        GetProcessTimes(p, &created, &ended, &kernel, &user))
        t = ticks_of(&created);
    CloseHandle(p);
    return t;
}

size_t bt_win_process_token(long pid, char out[BT_TOKEN_LEN], double *started) {
    unsigned long long t = pid > 0 ? creation_of(pid) : 0;
    out[0] = '\0';
    if (!t)
        return 0;
    if (started)
        *started = (double)t / 1e7 - 11644473600.0; /* from 1601 to 1970, as bt_win_epoch */
    return (size_t)snprintf(out, BT_TOKEN_LEN, "%llu", t);
}

/* This process's command line in UTF-8 into out (cap bytes, cut short): its length. */
static LONG own_cmdline(char *out, size_t cap) {
    const wchar_t *w = GetCommandLineW();
    int n = w ? WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL, NULL) : 0;
    if (n > 0)
        return n - 1; /* without its NUL */
    /* too long: the part that fits, cut at a whole character */
    size_t len = w ? wcslen(w) : 0;
    while (len > 0) {
        len /= 2;
        n = WideCharToMultiByte(CP_UTF8, 0, w, (int)len, out, (int)cap, NULL, NULL);
        if (n > 0)
            return n;
    }
    return 0;
}

int bt_win_gone(long pid) {
    HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (!p)
        return GetLastError() == ERROR_INVALID_PARAMETER;
    DWORD code;
    int ended = GetExitCodeProcess(p, &code) && code != STILL_ACTIVE;
    CloseHandle(p);
    return ended;
}

/* Claim a free slot of t, or one whose process is gone (a live claimer's slot is never
 * taken, even before it wrote its start time): its index, or -1. */
static int claim(table *t, LONG me) {
    for (int i = 0; i < SLOTS; i++)
        if (InterlockedCompareExchange(&t->s[i].pid, me, 0) == 0)
            return i;
    for (int i = 0; i < SLOTS; i++) {
        LONG was = t->s[i].pid;
        if (was > 0 && was != me && bt_win_gone(was) &&
            InterlockedCompareExchange(&t->s[i].pid, me, was) == was)
            return i;
    }
    return -1;
}

static void publish(slot *s, int kind, int shared, const char *note, size_t note_len) {
    InterlockedIncrement(&s->seq); /* odd: being written */
    s->token = creation_of((long)GetCurrentProcessId());
    s->kind = kind;
    s->shared = shared;
    s->since = bt_win_wall_now();
    if (note) {
        if (note_len > BT_RECORD_NOTE)
            note_len = BT_RECORD_NOTE;
        memcpy(s->note, note, note_len);
        s->note_len = (LONG)note_len;
    } else {
        s->note_len = -1;
    }
    s->cmd_len = own_cmdline(s->cmd, sizeof s->cmd);
    InterlockedIncrement(&s->seq); /* even: settled */
}

/* The table of the file `id`, made when missing: its view, with *map its handle. */
static table *open_table(const bt_win_id *id, HANDLE *map) {
    wchar_t name[64];
    name_of(id, name);
    *map = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, sizeof(table), name);
    if (!*map)
        return NULL;
    table *t = MapViewOfFile(*map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, sizeof(table));
    if (!t) {
        CloseHandle(*map);
        return NULL;
    }
    memcpy(t->magic, MAGIC, sizeof MAGIC); /* the same bytes, whoever writes them */
    return t;
}

int bt_win_record_add(int kind, int shared, HANDLE file, const char *note, size_t note_len) {
    bt_win_id id;
    if (bt_win_id_of(file, &id) != 0)
        return -1;
    HANDLE map;
    table *t = open_table(&id, &map);
    if (!t)
        return -1;
    int s = claim(t, (LONG)GetCurrentProcessId());
    int found = -1;
    AcquireSRWLockExclusive(&held_guard);
    for (int i = 0; i < MAX_HELD && found < 0 && s >= 0; i++)
        if (!held[i].view) {
            held[i].map = map;
            held[i].view = t;
            held[i].slot = s;
            found = i;
        }
    ReleaseSRWLockExclusive(&held_guard);
    if (found < 0) {
        if (s >= 0)
            InterlockedExchange(&t->s[s].pid, 0);
        UnmapViewOfFile(t);
        CloseHandle(map);
        return -1;
    }
    publish(&t->s[s], kind, shared, note, note_len);
    return found;
}

void bt_record_drop(int id) {
    if (id < 0 || id >= MAX_HELD)
        return;
    AcquireSRWLockExclusive(&held_guard);
    struct held h = held[id];
    memset(&held[id], 0, sizeof held[id]);
    ReleaseSRWLockExclusive(&held_guard);
    if (!h.view)
        return;
    slot *s = &h.view->s[h.slot];
    InterlockedIncrement(&s->seq);
    InterlockedExchange(&s->pid, 0);
    InterlockedIncrement(&s->seq);
    UnmapViewOfFile(h.view);
    CloseHandle(h.map);
}

/* A settled copy of slot s into out: 1, or 0 (free, or being written). */
static int settled_copy(const slot *s, slot *out) {
    for (int i = 0; i < 4; i++) {
        LONG before = s->seq;
        MemoryBarrier();
        memcpy(out, (const void *)s, sizeof *out);
        MemoryBarrier();
        if (!(before & 1) && s->seq == before)
            return out->pid > 0;
    }
    return 0;
}

static void fill(const slot *c, bt_win_record *r) {
    memset(r, 0, sizeof *r);
    r->pid = c->pid;
    r->info.kind = c->kind;
    r->info.shared = c->shared != 0;
    r->info.since = c->since;
    if (c->note_len >= 0 && c->note_len <= BT_RECORD_NOTE) {
        r->info.has_note = 1;
        r->info.note_len = (size_t)c->note_len;
        memcpy(r->info.note, c->note, r->info.note_len);
    }
    if (c->cmd_len > 0 && c->cmd_len <= BT_WIN_RECORD_CMD) {
        r->cmd_len = (size_t)c->cmd_len;
        memcpy(r->cmd, c->cmd, r->cmd_len);
    }
}

int bt_win_records(const bt_win_id *id, int kind, long pid, bt_win_record *out, int max) {
    wchar_t name[64];
    name_of(id, name);
    HANDLE map = OpenFileMappingW(FILE_MAP_READ, FALSE, name);
    if (!map)
        return 0;
    const table *t = MapViewOfFile(map, FILE_MAP_READ, 0, 0, sizeof(table));
    int n = 0;
    for (int i = 0; t && i < SLOTS; i++) {
        slot c;
        if (!settled_copy(&t->s[i], &c) || (kind && c.kind != kind) || (pid > 0 && c.pid != pid))
            continue;
        if (creation_of(c.pid) != c.token || c.token == 0)
            continue; /* gone, or its pid recycled */
        if (n < max)
            fill(&c, &out[n]);
        n++;
    }
    if (t)
        UnmapViewOfFile(t);
    CloseHandle(map);
    return n;
}

int bt_os_knows(void) { return BT_KNOWS_STARTED; }
