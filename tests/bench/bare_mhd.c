/* bare_mhd.c - the ceiling of the HTTP layer: a libmicrohttpd server with
 * the same threading options as visitdavd that answers every request with
 * a fixed text/calendar body (500 bytes unless BYTES says otherwise).  The
 * benchmark compares visitdavd's GET throughput against it, and times a
 * body the size of a multiget answer to show the floor of sending that
 * many bytes.  Usage: bare_mhd PORT [THREADS [BYTES]] */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *body;
static size_t body_len;
static struct MHD_Response *response;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **state)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (*state == NULL) {            /* first call: headers only */
        *state = (void *)1;
        return MHD_YES;
    }
    *upload_size = 0;
    return MHD_queue_response(c, MHD_HTTP_OK, response);
}

/* One 500-byte event, repeated (whole events, then filler) to body_len. */
static void fill_body(void)
{
    const char *head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
                       "BEGIN:VEVENT\r\nUID:bench@example\r\nDTSTAMP:20260101T000000Z\r\n"
                       "DTSTART:20260101T090000Z\r\nDTEND:20260101T100000Z\r\nSUMMARY:";
    const char *tail = "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    char one[500];
    size_t h = strlen(head), t = strlen(tail);
    memcpy(one, head, h);
    memset(one + h, 'x', 500 - h - t);
    memcpy(one + 500 - t, tail, t);
    body = malloc(body_len + 1);
    if (!body) {
        fprintf(stderr, "bare_mhd: no memory for %zu bytes\n", body_len);
        exit(1);
    }
    for (size_t off = 0; off < body_len; off += 500)
        memcpy(body + off, one, body_len - off < 500 ? body_len - off : 500);
    body[body_len] = '\0';
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS [BYTES]]\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
    long bytes = argc > 3 ? atol(argv[3]) : 500;
    if (bytes < 1 || bytes > 64L * 1024 * 1024) {
        fprintf(stderr, "bare_mhd: BYTES must be 1..67108864\n");
        return 2;
    }
    body_len = (size_t)bytes;
    fill_body();
    response = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", "text/calendar; charset=utf-8");
    MHD_add_response_header(response, "ETag", "\"0123456789abcdef\"");
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL,
        answer, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd: cannot listen on %u\n", port);
        return 1;
    }
    printf("bare_mhd listening on http://127.0.0.1:%u/\n", port);
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    free(body);
    return 0;
}
