/*
 * floor.c: the least a readiness-based HTTP/1.1 server can do per request
 * on this kernel, as a yardstick for reactord (docs/benchmarks.md).
 *
 * What it does: one thread, one epoll set, edge-triggered; accept until
 * EAGAIN; read until the receive queue is empty; count request heads (each
 * blank line "\r\n\r\n" ends one) and answer each with the same canned
 * response, all of a batch's answers in one send. What it doesn't: parse
 * anything (method, target, headers, bodies are not looked at), keep
 * timers, enforce limits, log. So it answers GET requests without a body
 * correctly (wrk, curl, reactord-load) and nothing else reliably: it is a
 * measure of the kernel's share of a request's cost, not a server.
 *
 * It does what reactord does where the choice changes the syscall count,
 * so that the gap between them is user-space work only: a short read ends
 * the draining (Linux raises a new edge for data queued later), answers are
 * written right after reading without waiting for a writable event, and a
 * full send buffer is finished on the next EPOLLOUT edge.
 *
 * The body is reactord's hello ("Hello from reactord\n"), so both put the
 * same bytes on the wire, less the Date header.
 *
 *   cc -O2 -o floor benches/floor.c
 *   ./floor 8081          # or 0: any free port, printed on stderr
 *
 * It listens on 127.0.0.1 only and says "listening on 127.0.0.1:PORT (http)"
 * on stderr, like reactord.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char ANSWER[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 20\r\n"
    "\r\n"
    "Hello from reactord\n";
#define ANSWER_LEN (sizeof ANSWER - 1)

/* Descriptors at or past this are refused: the per-connection state is an
 * array indexed by descriptor, the simplest table there is. */
#define MAX_FDS 65536
/* Answers sent per send(): 1,024 pipelined requests' worth (about 100 KiB). */
#define ANSWERS_PER_SEND 1024
#define READ_SIZE 65536

struct conn {
    /* How much of "\r\n\r\n" the last bytes read match (0 to 3). */
    unsigned char matched;
    /* Answers owed, and how many bytes of the first were already sent. */
    size_t owed;
    size_t first_sent;
};

static struct conn conns[MAX_FDS];
static char batch[ANSWERS_PER_SEND * ANSWER_LEN];

/* Count the request heads that end in `data`, carrying a partial match of
 * the blank line across reads. */
static size_t count_heads(struct conn *c, const char *data, size_t len) {
    static const char blank[] = "\r\n\r\n";
    size_t heads = 0;
    unsigned char m = c->matched;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == blank[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            /* A mismatch may still start a new match with '\r'. */
            m = data[i] == '\r';
        }
    }
    c->matched = m;
    return heads;
}

/* Send what is owed until done or the send buffer is full. Returns -1 if
 * the connection failed. */
static int flush(int fd, struct conn *c) {
    while (c->owed > 0) {
        size_t answers = c->owed < ANSWERS_PER_SEND ? c->owed : ANSWERS_PER_SEND;
        size_t len = answers * ANSWER_LEN - c->first_sent;
        ssize_t n = send(fd, batch + c->first_sent, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        size_t done = c->first_sent + (size_t)n;
        c->owed -= done / ANSWER_LEN;
        c->first_sent = done % ANSWER_LEN;
        if ((size_t)n < len)
            return 0; /* the rest goes on the next EPOLLOUT edge */
    }
    return 0;
}

/* A readable (or closed) connection: drain it, answer, close it if over.
 * `closing`: the event said the peer closed or failed, so read to the end
 * (a short read would not be followed by another edge). */
static void serve(int fd, int closing) {
    static char in[READ_SIZE];
    struct conn *c = &conns[fd];
    int over = 0;
    for (;;) {
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n > 0) {
            c->owed += count_heads(c, in, (size_t)n);
            if ((size_t)n < sizeof in && !closing)
                break;
        } else if (n == 0) {
            over = 1;
            break;
        } else if (errno == EINTR) {
            continue;
        } else {
            over = errno != EAGAIN;
            break;
        }
    }
    if (flush(fd, c) < 0 || over)
        close(fd); /* also removes it from the epoll set */
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux:
     * one setsockopt in all instead of one per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons((unsigned short)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1024) < 0)
        return -1;
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    fprintf(stderr, "floor: listening on 127.0.0.1:%d (http)\n", ntohs(addr.sin_port));
    return fd;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8081;
    for (size_t i = 0; i < ANSWERS_PER_SEND; i++)
        memcpy(batch + i * ANSWER_LEN, ANSWER, ANSWER_LEN);
    int listener = listen_on(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (listener < 0 || ep < 0) {
        perror("floor");
        return 1;
    }
    /* The listener is level-triggered: a connection left in the backlog
     * (out of descriptors) is offered again on the next wait. */
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    struct epoll_event events[512];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            uint32_t what = events[i].events;
            if (fd != listener) {
                if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    serve(fd, (what & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
                else if (what & EPOLLOUT && flush(fd, &conns[fd]) < 0)
                    close(fd);
                continue;
            }
            for (;;) {
                int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) {
                    if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                    break; /* EAGAIN, or out of descriptors: try on the next wait */
                }
                if (c >= MAX_FDS) {
                    close(c);
                    continue;
                }
                conns[c] = (struct conn){0};
                /* Registered once, for both directions: no epoll_ctl per request. */
                struct epoll_event ce = {
                    .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                    .data.fd = c,
                };
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
            }
        }
    }
}
