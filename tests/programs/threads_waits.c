/* Programs for tests/suite/audit/review.rs: ./threads_waits MODE DIR
 *
 * leader-exit:   a child whose main thread calls pthread_exit while a second thread
 *                works on for 300 ms; the parent waits for it at once.
 * waitid-null:   two children reaped by waitid(2) given no siginfo (P_PID, then P_ALL),
 *                each 50 ms after it ended.
 * exchange:      renameat2(RENAME_EXCHANGE) of a FIFO and a regular file, then both
 *                removed by their new names; then of two FIFOs x and y, and x removed:
 *                what is left is the FIFO made as x, now named y.
 * stopped:       a child that stops itself (SIGSTOP), on kill -STOP from its parent, or
 *                reading its terminal from a background process group (SIGTTIN): each
 *                must stay stopped for 300 ms (its loop counter in shared memory does not
 *                move, it makes no context switch), then run on after SIGCONT. Exit 1 if
 *                one ran while stopped. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
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

/* The context switches of `pid` so far (a task stopped makes none; one resumed into
 * the stopping call again and again makes thousands). */
static long switches(pid_t pid) {
    char path[64], line[256];
    long total = 0, n;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    check(f != NULL, "fopen status");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1)
            total += n;
    fclose(f);
    return total;
}

/* Forks a child that `how` stops, checks that it does not run while stopped (it counts
 * loops in `counter`), then continues it and kills and reaps it. Returns 1 if it ran. */
static int stays_stopped(volatile long *counter, const char *how, int tty) {
    *counter = 0;
    pid_t p = fork();
    check(p >= 0, "fork");
    if (p == 0) {
        if (!strcmp(how, "self")) raise(SIGSTOP);
        if (!strcmp(how, "ttin")) {
            char c;
            setpgid(0, 0); /* a background group: reading the terminal stops it */
            if (read(tty, &c, 1) < 0) _exit(4);
            _exit(5);
        }
        for (;;) (*counter)++;
    }
    if (!strcmp(how, "kill")) kill(p, SIGSTOP);
    int st;
    check(waitpid(p, &st, WUNTRACED) == p, "waitpid WUNTRACED");
    if (!WIFSTOPPED(st)) {
        fprintf(stderr, "%s: not stopped\n", how);
        return 1;
    }
    long before = *counter, switched = switches(p);
    usleep(300000);
    long after = *counter;
    switched = switches(p) - switched;
    kill(p, SIGCONT);
    long resumed = after;
    for (int i = 0; i < 200 && resumed == after && strcmp(how, "ttin"); i++) {
        usleep(10000); /* up to 2 s for a busy machine to run it again */
        resumed = *counter;
    }
    kill(p, SIGKILL);
    check(waitpid(p, &st, 0) == p, "waitpid");
    fprintf(stderr, "%s: %ld loops and %ld switches while stopped, %ld loops after SIGCONT\n",
            how, after - before, switched, resumed - after);
    if (!strcmp(how, "ttin")) return switched > 50;
    return after != before || resumed == after;
}

/* A terminal of our own, as the controlling one of a new session, for SIGTTIN. */
static int own_terminal(void) {
    check(setsid() >= 0, "setsid");
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    check(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, "posix_openpt");
    int tty = open(ptsname(m), O_RDWR);
    check(tty >= 0, "open pty");
    return tty;
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
    if (!strcmp(argv[1], "stopped")) {
        volatile long *counter = mmap(NULL, sizeof *counter, PROT_READ | PROT_WRITE,
                                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        check(counter != MAP_FAILED, "mmap");
        int ran = stays_stopped(counter, "self", -1) | stays_stopped(counter, "kill", -1);
        return ran | stays_stopped(counter, "ttin", own_terminal());
    }
    if (!strcmp(argv[1], "exchange")) {
        exchange(argv[2]);
        return 0;
    }
    return 2;
}
