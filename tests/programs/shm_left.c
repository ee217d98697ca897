/* A C lab program that forgets its cleanup: a POSIX segment of 8192 bytes and a named
 * semaphore left behind; a System V segment made and removed properly.
 * Usage: shm_left NAME (NAME without the leading slash). */
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char name[256];
    if (argc != 2) return 2;
    snprintf(name, sizeof name, "/%s", argv[1]);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0) { perror("shm_open"); return 1; }
    close(fd);
    sem_t *sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
    if (sem == SEM_FAILED) { perror("sem_open"); return 1; }
    sem_close(sem);
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0 || shmctl(id, IPC_RMID, 0) != 0) { perror("shmget"); return 1; }
    return 0;
}
