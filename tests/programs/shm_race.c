/* Both sides of a C pair open their segment with shm_open(O_CREAT | O_RDWR) as they
 * start, at the same moment: a parent and the child it just forked, 200 times, each
 * time a segment of its own that the parent then removes.
 * Usage: shm_race NAME (NAME without the leading slash). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char name[256];
    if (argc != 2) return 2;
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "/%s_%d", argv[1], i);
        pid_t child = fork();
        if (child < 0) return 1;
        int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
        if (fd < 0) return 1;
        close(fd);
        if (child == 0) _exit(0);
        if (waitpid(child, NULL, 0) != child) return 1;
        if (shm_unlink(name) != 0) return 1;
    }
    return 0;
}
