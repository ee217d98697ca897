/* A program the kernel makes non-dumpable: by prctl(PR_SET_DUMPABLE, 0) (MODE "prctl"),
 * or by being installed execute-only (mode 0711, MODE "xonly"). An unprivileged tracer
 * may still read its memory with PTRACE_PEEKDATA, but not with process_vm_readv, nor
 * its /proc/PID/cwd. It leaves a segment (an absolute name) and a FIFO (a relative
 * path), and reaps its child with waitid (the siginfo is in its memory).
 * Usage: nondumpable MODE NAME (NAME without the leading slash). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char name[256];
    if (argc != 3) return 2;
    if (strcmp(argv[1], "prctl") == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        perror("prctl");
        return 1;
    }
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "still dumpable\n");
        return 1;
    }
    snprintf(name, sizeof name, "/%s", argv[2]);
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) { perror("shm_open"); return 1; }
    close(fd);
    if (mkfifo("rel.fifo", 0600) != 0) { perror("mkfifo"); return 1; }
    pid_t c = fork();
    if (c < 0) { perror("fork"); return 1; }
    if (c == 0) _exit(3);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, c, &si, WEXITED) != 0 || si.si_pid != c) { perror("waitid"); return 1; }
    return 0;
}
