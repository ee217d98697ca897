/* Programs for tests/suite/audit/review.rs: ./threads_waits MODE DIR
 *
 * leader-exit:   a child whose main thread calls pthread_exit while a second thread
 *                works on for 300 ms; the parent waits for it at once.
 * waitid-null:   two children reaped by waitid(2) given no siginfo (P_PID, then P_ALL),
 *                each 50 ms after it ended.
 * exchange:      renameat2(RENAME_EXCHANGE) of a FIFO and a regular file, then both
 *                removed by their new names; then of two FIFOs x and y, and x removed:
 *                what is left is the FIFO made as x, now named y. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void *work(void *arg) {
    (void)arg;
    usleep(300000);
    exit(0);
}

static void check(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(2);
    }
}

static void exchange(const char *dir) {
    check(chdir(dir) == 0, "chdir");
    check(mkfifo("fifo", 0600) == 0, "mkfifo");
    int fd = open("file", O_CREAT | O_WRONLY, 0600);
    check(fd >= 0, "open");
    close(fd);
    check(syscall(SYS_renameat2, AT_FDCWD, "fifo", AT_FDCWD, "file", RENAME_EXCHANGE) == 0,
          "renameat2");
    check(unlink("file") == 0, "unlink file"); /* the FIFO, now */
    check(unlink("fifo") == 0, "unlink fifo"); /* the regular file, now */
    check(mkfifo("x", 0600) == 0, "mkfifo x");
    check(mkfifo("y", 0600) == 0, "mkfifo y");
    check(syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE) == 0,
          "renameat2 x y");
    check(unlink("x") == 0, "unlink x"); /* the FIFO made as y */
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    if (!strcmp(argv[1], "leader-exit")) {
        pid_t p = fork();
        check(p >= 0, "fork");
        if (p == 0) {
            pthread_t t;
            check(pthread_create(&t, NULL, work, NULL) == 0, "pthread_create");
            pthread_exit(NULL);
        }
        check(waitpid(p, NULL, 0) == p, "waitpid");
        return 0;
    }
    if (!strcmp(argv[1], "waitid-null")) {
        pid_t p = fork();
        check(p >= 0, "fork");
        if (p == 0) _exit(3);
        usleep(50000); /* each child is a zombie when it is waited for */
        check(waitid(P_PID, p, NULL, WEXITED) == 0, "waitid P_PID");
        if (fork() == 0) _exit(4);
        usleep(50000);
        check(waitid(P_ALL, 0, NULL, WEXITED) == 0, "waitid P_ALL");
        usleep(300000); /* longer than the zombie threshold */
        return 0;
    }
    if (!strcmp(argv[1], "exchange")) {
        exchange(argv[2]);
        return 0;
    }
    return 2;
}
