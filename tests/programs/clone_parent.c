/* A child that makes a sibling with clone(CLONE_PARENT) and ends: the sibling's parent is
 * the main process, which waits for both. Prints the sibling's pid on stdout. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int sibling(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    return 7;
}

int main(void) {
    pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        char *stack = malloc(64 * 1024);
        if (!stack) _exit(2);
        pid_t s = clone(sibling, stack + 64 * 1024, CLONE_PARENT | SIGCHLD, NULL);
        if (s < 0) _exit(2);
        printf("%d\n", s);
        fflush(stdout);
        _exit(0);
    }
    int status, reaped = 0;
    while (waitpid(-1, &status, 0) > 0) reaped++;
    return reaped == 2 ? 0 : 3;
}
