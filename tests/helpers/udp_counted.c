/* A UDP sender and receiver on 127.0.0.1 that count their own system calls: thread "udp-send"
 * calls sendto() as fast as it can, thread "udp-recv" calls recvfrom() on the socket it sends to.
 * Every 64 calls each thread notes (CLOCK_MONOTONIC, calls made so far); on SIGTERM or SIGINT
 * the process writes its notes to LOG (lines "send|recv TID SECONDS CALLS") and exits, so a test
 * can tell how many calls it made in any window on that clock (diagnose run's counting window).
 *
 *   udp_counted LOG        prints "ready" once both threads run
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EVERY 64
#define MAX_NOTES (1 << 20)

struct notes {
    const char *what;
    pid_t tid;
    size_t n;
    double *t;
    long long *calls;
};

static int rx, tx;
static struct sockaddr_in to;
static atomic_int stop;
static struct notes send_notes = {.what = "send"}, recv_notes = {.what = "recv"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note(struct notes *w, long long calls) {
    if (w->n < MAX_NOTES) {
        w->t[w->n] = now();  /* vDSO: no system call */
        w->calls[w->n] = calls;
        w->n++;
    }
}

static void *sender(void *arg) {
    (void)arg;
    char payload[200];
    memset(payload, 'x', sizeof payload);
    send_notes.tid = (pid_t)syscall(SYS_gettid);
    pthread_setname_np(pthread_self(), "udp-send");
    long long calls = 0;
    note(&send_notes, 0);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        sendto(tx, payload, sizeof payload, 0, (struct sockaddr *)&to, sizeof to);
        if (++calls % EVERY == 0) note(&send_notes, calls);
    }
    note(&send_notes, calls);
    return NULL;
}

static void *receiver(void *arg) {
    (void)arg;
    char buf[2048];
    recv_notes.tid = (pid_t)syscall(SYS_gettid);
    pthread_setname_np(pthread_self(), "udp-recv");
    long long calls = 0;
    note(&recv_notes, 0);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        recvfrom(rx, buf, sizeof buf, 0, NULL, NULL);  /* returns within 100 ms (SO_RCVTIMEO) */
        if (++calls % EVERY == 0) note(&recv_notes, calls);
    }
    note(&recv_notes, calls);
    return NULL;
}

static void on_signal(int sig) {
    (void)sig;
    atomic_store(&stop, 1);
}

static void alloc(struct notes *w) {
    w->t = malloc(MAX_NOTES * sizeof *w->t);
    w->calls = malloc(MAX_NOTES * sizeof *w->calls);
    if (!w->t || !w->calls) exit(1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp_counted LOG\n");
        return 2;
    }
    alloc(&send_notes);
    alloc(&recv_notes);
    rx = socket(AF_INET, SOCK_DGRAM, 0);
    tx = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rx, (struct sockaddr *)&to, sizeof to) != 0) return 1;
    socklen_t len = sizeof to;
    getsockname(rx, (struct sockaddr *)&to, &len);
    struct timeval tv = {0, 100000};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_setname_np(pthread_self(), "udp-counted");
    pthread_t s, r;
    pthread_create(&r, NULL, receiver, NULL);
    pthread_create(&s, NULL, sender, NULL);
    while (!send_notes.n || !recv_notes.n) usleep(1000);
    printf("ready\n");
    fflush(stdout);
    while (!atomic_load(&stop)) usleep(10000);  /* the signal may land on any thread */
    pthread_join(s, NULL);
    pthread_join(r, NULL);
    FILE *f = fopen(argv[1], "w");
    if (!f) return 1;
    struct notes *all[] = {&send_notes, &recv_notes};
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < all[i]->n; j++)
            fprintf(f, "%s %d %.9f %lld\n", all[i]->what, (int)all[i]->tid, all[i]->t[j], all[i]->calls[j]);
    fclose(f);
    return 0;
}
