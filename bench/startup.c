/* Start-up time of commands, measured side by side: each round runs every command given
 * once, in turn, so that a change in the machine's load touches them all alike.
 * Usage: startup ROUNDS -- NAME CMD [ARGS...] -- NAME CMD [ARGS...] ...
 * Prints each command's median and mean wall time (ms) and its ratio to the first. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 8

typedef struct {
    const char *name;
    char **argv;
    double *ms;
} command;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double run_once(char **argv) {
    double start = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            close(null);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "startup: %s failed (status %d)\n", argv[0], status);
        exit(1);
    }
    return now_ms() - start;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: startup ROUNDS -- NAME CMD [ARGS...] [-- NAME CMD ...]\n");
        return 64;
    }
    int rounds = atoi(argv[1]);
    command cmds[MAX_CMDS];
    int n = 0;
    for (int i = 2; i < argc && n < MAX_CMDS; i++) {
        if (strcmp(argv[i], "--") != 0 || i + 2 >= argc)
            continue;
        cmds[n].name = argv[i + 1];
        cmds[n].argv = &argv[i + 2];
        cmds[n].ms = calloc((size_t)rounds, sizeof(double));
        if (cmds[n].ms == NULL)
            return 1;
        n++;
    }
    for (int i = 2; i < argc; i++) /* each command's argv ends at the next "--" */
        if (strcmp(argv[i], "--") == 0)
            argv[i] = NULL;
    for (int c = 0; c < n; c++) /* warm the caches */
        run_once(cmds[c].argv);
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < n; c++)
            cmds[c].ms[r] = run_once(cmds[c].argv);
    double base = 0;
    for (int c = 0; c < n; c++) {
        double sum = 0;
        for (int r = 0; r < rounds; r++)
            sum += cmds[c].ms[r];
        qsort(cmds[c].ms, (size_t)rounds, sizeof(double), by_value);
        double median = cmds[c].ms[rounds / 2];
        if (c == 0)
            base = median;
        printf("%-28s median %6.3f ms  mean %6.3f ms  p90 %6.3f ms  %.2fx\n", cmds[c].name,
               median, sum / rounds, cmds[c].ms[rounds * 9 / 10], median / base);
        free(cmds[c].ms);
    }
    return 0;
}
