/* baseline_server.c - the bench's yardstick: a bare multi-threaded libevent
 * evhttp server answering every request with a fixed 200 and a small JSON
 * body, built the same way as Loopgate's front end (one shared listening
 * socket, one event_base + evhttp per thread). Loopgate's figures are
 * reported as a fraction of this one's, so machine noise cancels out.
 *
 * usage: lg_bench_baseline PORT [THREADS]
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char body[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":"
                           "\"information\",\"code\":\"informational\"}]}";

static void handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, body, sizeof(body) - 1, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/fhir+json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void *worker(void *arg)
{
    int fd = *(int *)arg;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    if(!base || !http || !evhttp_accept_socket_with_handle(http, fd)) {
        fprintf(stderr, "baseline: worker setup failed\n");
        exit(1);
    }
    evhttp_set_gencb(http, handle, NULL);
    event_base_dispatch(base);
    return NULL;
}

int main(int argc, char **argv)
{
    if(argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
        return 2;
    }
    int port = (int)strtol(argv[1], NULL, 10);
    int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
    if(port <= 0 || port > 65535 || n < 1 || n > 64) {
        fprintf(stderr, "baseline: bad port or thread count\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if(fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
       bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024)) {
        perror("baseline: listen");
        return 1;
    }
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    int *fds = calloc((size_t)n, sizeof(*fds));
    for(int i = 0; i < n; i++) {
        fds[i] = dup(fd); /* evhttp closes what it was given */
        pthread_create(&t[i], NULL, worker, &fds[i]);
    }
    for(int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}
