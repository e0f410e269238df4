/* delay_proxy: a TCP proxy that stands for network distance between PostgreSQL's clients and the
 * server, where `tc netem` is missing (this kernel) or needs privileges that bench lacks.
 *
 *   delay_proxy LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT RTT_US
 *
 * Every chunk read from one side is written to the other half the RTT later, in order; a new
 * connection's bytes wait one RTT first, in each direction (the TCP handshake a real client pays
 * before its first byte). With RTT_US = 0 bytes are written as soon as they are read, so the proxy
 * adds only its own cost (one read and one write per chunk).
 *
 * Written in C, single-threaded on epoll with a timerfd of nanosecond resolution, because the issue
 * asks for at most 0.1 ms added per round trip at 1000 round trips/s: a Python proxy spends about
 * that in the interpreter alone. On SIGTERM or SIGINT it prints its counters and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 65536

typedef struct chunk {
    struct chunk *next;
    uint64_t due_ns;
    size_t len, off;
    int eof;            /* the sender closed its end: shut down writing to the receiver */
    char data[];
} chunk;

struct conn;

typedef struct side {  /* one socket, and the chunks waiting to be written to it */
    int kind;           /* 0: a side of a connection (first member, so epoll's ptr tells kinds apart) */
    int fd;
    int index;          /* 0 client, 1 upstream */
    int connected;
    int read_closed;
    int write_closed;
    int want_out;
    chunk *head, *tail;
    struct conn *conn;
} side;

typedef struct conn {
    side sides[2];
    uint64_t ready_ns;  /* accept time + RTT: no byte is delivered earlier */
    int refs;           /* timer entries that point here */
    int dead;
    struct conn *next_dead;
} conn;

typedef struct { uint64_t due_ns; uint64_t seq; side *to; } timer_entry;

static int kinds[3] = {1, 2, 3}; /* listener, timerfd, signalfd */
static int epoll_fd, listen_fd, timer_fd, signal_fd;
static uint64_t half_ns, rtt_ns, seq;
static struct sockaddr_storage upstream;
static socklen_t upstream_len;
static timer_entry *heap;
static size_t heap_len, heap_cap;
static unsigned long long accepted, refused, chunks[2], bytes[2];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int earlier(const timer_entry *a, const timer_entry *b) {
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(uint64_t due, side *to) {
    if (heap_len == heap_cap) {
        heap_cap = heap_cap ? 2 * heap_cap : 1024;
        heap = realloc(heap, heap_cap * sizeof *heap);
        if (!heap) die("realloc");
    }
    size_t i = heap_len++;
    heap[i] = (timer_entry){due, seq++, to};
    while (i && earlier(&heap[i], &heap[(i - 1) / 2])) {
        timer_entry t = heap[i]; heap[i] = heap[(i - 1) / 2]; heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    to->conn->refs++;
}

static timer_entry heap_pop(void) {
    timer_entry top = heap[0];
    heap[0] = heap[--heap_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_len && earlier(&heap[l], &heap[m])) m = l;
        if (r < heap_len && earlier(&heap[r], &heap[m])) m = r;
        if (m == i) break;
        timer_entry t = heap[i]; heap[i] = heap[m]; heap[m] = t;
        i = m;
    }
    return top;
}

static void arm_timer(void) {
    struct itimerspec when = {0};
    if (heap_len) {
        uint64_t due = heap[0].due_ns;
        if (!due) due = 1;
        when.it_value.tv_sec = due / 1000000000ull;
        when.it_value.tv_nsec = due % 1000000000ull;
    }
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0) die("timerfd_settime");
}

static void watch(side *s) {
    uint32_t events = (s->read_closed ? 0 : EPOLLIN) | (s->want_out ? EPOLLOUT : 0);
    struct epoll_event ev = {.events = events, .data.ptr = s};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0) die("epoll_ctl mod");
}

static void free_chunks(side *s) {
    while (s->head) { chunk *c = s->head; s->head = c->next; free(c); }
    s->tail = NULL;
}

/* Dead connections are freed only between event batches, once no timer entry points at them:
 * an event of the same batch, or a due time, may still name one. */
static conn *graveyard;

static void bury(void) {
    conn **link = &graveyard;
    while (*link) {
        conn *c = *link;
        if (c->refs == 0) { *link = c->next_dead; free(c); }
        else link = &c->next_dead;
    }
}

static void kill_conn(conn *c) {
    if (c->dead) return;
    for (int i = 0; i < 2; i++) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->sides[i].fd, NULL);
        close(c->sides[i].fd);
        free_chunks(&c->sides[i]);
    }
    c->dead = 1;
    c->next_dead = graveyard;
    graveyard = c;
}

/* Both directions ended and everything delivered: the connection is over. */
static void maybe_finish(conn *c) {
    if (c->sides[0].write_closed && c->sides[1].write_closed) kill_conn(c);
}

/* Write what is due to side `s`; stop at the first chunk not yet due or a full socket buffer. */
static void flush(side *s) {
    conn *c = s->conn;
    if (c->dead || !s->connected) return;
    uint64_t now = s->head && s->head->due_ns > 0 ? now_ns() : 0;
    int blocked = 0;
    while (s->head && s->head->due_ns <= now) {
        chunk *k = s->head;
        if (k->eof) {
            shutdown(s->fd, SHUT_WR);
            s->write_closed = 1;
        } else {
            ssize_t n = write(s->fd, k->data + k->off, k->len - k->off);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) { blocked = 1; break; }
                kill_conn(c);
                return;
            }
            k->off += (size_t)n;
            if (k->off < k->len) { blocked = 1; break; }
        }
        s->head = k->next;
        if (!s->head) s->tail = NULL;
        free(k);
        now = s->head && s->head->due_ns > 0 ? now_ns() : 0;
    }
    if (blocked != s->want_out) { s->want_out = blocked; watch(s); }
    maybe_finish(c);
}

static void enqueue(side *to, const char *data, size_t len, int eof, uint64_t due) {
    chunk *k = malloc(sizeof *k + len);
    if (!k) die("malloc");
    k->next = NULL; k->due_ns = due; k->len = len; k->off = 0; k->eof = eof;
    if (len) memcpy(k->data, data, len);
    if (to->tail) to->tail->next = k; else to->head = k;
    to->tail = k;
    if (due) heap_push(due, to);
    else flush(to);
}

static void on_readable(side *from) {
    static char buf[READ_SIZE];
    conn *c = from->conn;
    side *to = &c->sides[1 - from->index];
    ssize_t n = read(from->fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        kill_conn(c);
        return;
    }
    uint64_t due = 0;
    if (rtt_ns) {
        uint64_t now = now_ns();
        due = (now > c->ready_ns ? now : c->ready_ns) + half_ns;
    }
    if (n == 0) {
        from->read_closed = 1;
        watch(from);
        enqueue(to, NULL, 0, 1, due);
        return;
    }
    chunks[from->index]++;
    bytes[from->index] += (unsigned long long)n;
    if (!due && !to->head && to->connected) {  /* no delay, nothing queued: write straight through */
        ssize_t w = write(to->fd, buf, (size_t)n);
        if (w == n) return;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { kill_conn(c); return; }
        size_t done = w > 0 ? (size_t)w : 0;
        enqueue(to, buf + done, (size_t)n - done, 0, 0);
        return;
    }
    enqueue(to, buf, (size_t)n, 0, due);
}

static void on_connected(side *up) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error) { refused++; kill_conn(up->conn); return; }
    up->connected = 1;
    up->want_out = 0;
    watch(up);
    flush(up);
}

static void set_nodelay(int fd) {
    int one = 1;  /* the protocol's messages are small and each waits for an answer: no Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void add_side(conn *c, int index, int fd, int connected) {
    side *s = &c->sides[index];
    *s = (side){.kind = 0, .fd = fd, .index = index, .connected = connected, .conn = c};
    s->want_out = !connected;
    struct epoll_event ev = {.events = EPOLLIN | (connected ? 0 : EPOLLOUT), .data.ptr = s};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
}

static void on_accept(void) {
    for (;;) {
        int client = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            die("accept4");
        }
        int up = socket(upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (up < 0) die("socket");
        set_nodelay(client);
        set_nodelay(up);
        if (connect(up, (struct sockaddr *)&upstream, upstream_len) < 0 && errno != EINPROGRESS) {
            refused++;
            close(client);
            close(up);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->ready_ns = rtt_ns ? now_ns() + rtt_ns : 0;
        add_side(c, 0, client, 1);
        add_side(c, 1, up, 0);
        accepted++;
    }
}

static void resolve(const char *host, const char *port, struct sockaddr_storage *out, socklen_t *len) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc) { fprintf(stderr, "delay_proxy: %s:%s: %s\n", host, port, gai_strerror(rc)); exit(2); }
    memcpy(out, found->ai_addr, found->ai_addrlen);
    *len = found->ai_addrlen;
    freeaddrinfo(found);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT RTT_US\n", argv[0]);
        return 2;
    }
    rtt_ns = strtoull(argv[5], NULL, 10) * 1000ull;
    half_ns = rtt_ns / 2;
    resolve(argv[3], argv[4], &upstream, &upstream_len);
    prctl(PR_SET_TIMERSLACK, 1UL);  /* wake at the due time, not up to 50 us after it */

    struct sockaddr_storage here;
    socklen_t here_len;
    resolve(argv[1], argv[2], &here, &here_len);
    listen_fd = socket(here.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&here, here_len) < 0 || listen(listen_fd, 1024) < 0)
        die("listen");

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal_fd = signalfd(-1, &stop, SFD_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (signal_fd < 0 || timer_fd < 0 || epoll_fd < 0) die("setup");
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.ptr = &kinds[0]; epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
    ev.data.ptr = &kinds[1]; epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &ev);
    ev.data.ptr = &kinds[2]; epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &ev);
    printf("delay_proxy listening on %s:%s, upstream %s:%s, rtt %s us\n", argv[1], argv[2], argv[3], argv[4], argv[5]);
    fflush(stdout);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        for (int i = 0; i < n; i++) {
            int kind = *(int *)events[i].data.ptr;
            if (kind == 1) { on_accept(); continue; }
            if (kind == 2) { uint64_t ticks; (void)!read(timer_fd, &ticks, sizeof ticks); continue; }
            if (kind == 3) {
                printf("delay_proxy stopping: connections=%llu refused=%llu chunks_to_server=%llu "
                       "chunks_to_client=%llu bytes_to_server=%llu bytes_to_client=%llu\n",
                       accepted, refused, chunks[0], chunks[1], bytes[0], bytes[1]);
                return 0;
            }
            side *s = events[i].data.ptr;
            if (s->conn->dead) continue;
            if (events[i].events & EPOLLOUT) {
                if (!s->connected) on_connected(s); else flush(s);
            }
            if (s->conn->dead) continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (s->connected && !s->read_closed) on_readable(s);
                else if (!s->connected && (events[i].events & (EPOLLHUP | EPOLLERR))) on_connected(s);
            }
        }
        /* Deliver what has come due, then sleep until the next due time. */
        if (heap_len) {
            uint64_t now = now_ns();
            while (heap_len && heap[0].due_ns <= now) {
                timer_entry t = heap_pop();
                t.to->conn->refs--;
                flush(t.to);
            }
        }
        bury();
        arm_timer();
    }
}
