/*
 * The bench's load generator in C: the same client for every side (our
 * primary, Redis, the empty Deno server), as cheap per message as the client
 * the runtime's ceiling was measured with. On 2 cores the client's CPU is
 * taken from the server it measures; a Deno client costs each message about
 * twice what this one does, which hides how far apart the servers are.
 *
 * It speaks to load_process.ts exactly as load_worker.ts does: `window start`
 * and `window end` as the measured window opens and closes, then one
 * `latency <microseconds> <count>` line per distinct latency seen in the
 * window (load_process.ts puts them into the one latency histogram), then
 * `result <JSON>`.
 *
 * Each connection keeps --pipeline messages in flight and sends as many new
 * ones, in one write, as a read brought answers, until the window ends; then
 * it waits up to --drain for the last answers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Latencies are counted per microsecond up to this; longer ones count here. */
#define MAX_LATENCY_US 2000000
#define READ_SIZE 65536
#define MAX_PORTS 64
#define MAX_SEQ_DIGITS 20

static const char RESP_INCRBY[] = "*3\r\n$6\r\nINCRBY\r\n$5\r\nlikes\r\n$1\r\n1\r\n";

typedef struct {
  int fd;
  int open;
  uint64_t seq;
  /* The likes line up to its seq (`<name> <likes> <producer> `); unused for RESP. */
  char *prefix;
  size_t prefix_length;
  /* Send time of each message in flight, oldest at `oldest`. */
  int64_t *sent_at;
  int oldest;
  int in_flight;
  /* Bytes written by us but not yet taken by the socket. */
  char *out;
  size_t out_start, out_end, out_capacity;
  /* Whether EPOLLOUT is watched: only while the socket took less than written. */
  int waiting_out;
  /* A reply line can be split across reads: its length so far and first byte. */
  size_t line_length;
  unsigned char first_byte;
} conn_t;

static int resp;
static int pipeline = 1;
static int64_t window_start, window_end;
static uint64_t acknowledged, rejected, unanswered;
static char first_rejection[256];
static int has_rejection;
static uint32_t *latency_counts;
static int epoll_fd;

static void fail(const char *what) {
  fprintf(stderr, "load_client: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage_error(const char *message) {
  fprintf(stderr, "load_client: %s\n", message);
  exit(2);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static long parse_number(const char *text, long low, long high, const char *flag) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || end == text || value < low || value > high) {
    fprintf(stderr, "load_client: %s must be an integer from %ld to %ld, got %s\n", flag, low, high, text);
    exit(2);
  }
  return value;
}

static void watch(conn_t *c, uint32_t events) {
  struct epoll_event event = {.events = events, .data.ptr = c};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event) < 0) fail("epoll_ctl");
}

static void close_conn(conn_t *c) {
  if (!c->open) return;
  c->open = 0;
  unanswered += c->in_flight;
  c->in_flight = 0;
  close(c->fd);
}

/* Writes what is pending; waits for EPOLLOUT when the socket takes less. */
static void flush(conn_t *c) {
  while (c->out_start < c->out_end) {
    ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->waiting_out) watch(c, EPOLLIN | EPOLLOUT);
        c->waiting_out = 1;
        return;
      }
      if (errno == EINTR) continue;
      close_conn(c);
      return;
    }
    c->out_start += (size_t)n;
  }
  c->out_start = c->out_end = 0;
  if (c->waiting_out) watch(c, EPOLLIN);
  c->waiting_out = 0;
}

static size_t write_decimal(char *at, uint64_t value) {
  char digits[MAX_SEQ_DIGITS];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0);
  for (size_t i = 0; i < n; i++) at[i] = digits[n - 1 - i];
  return n;
}

/* Queues `count` new messages and writes them in one write. */
static void send_messages(conn_t *c, int count, int64_t now) {
  if (c->out_start > 0) {
    memmove(c->out, c->out + c->out_start, c->out_end - c->out_start);
    c->out_end -= c->out_start;
    c->out_start = 0;
  }
  for (int i = 0; i < count; i++) {
    if (resp) {
      memcpy(c->out + c->out_end, RESP_INCRBY, sizeof RESP_INCRBY - 1);
      c->out_end += sizeof RESP_INCRBY - 1;
    } else {
      memcpy(c->out + c->out_end, c->prefix, c->prefix_length);
      c->out_end += c->prefix_length;
      c->out_end += write_decimal(c->out + c->out_end, ++c->seq);
      c->out[c->out_end++] = '\n';
    }
    c->sent_at[(c->oldest + c->in_flight) % pipeline] = now;
    c->in_flight++;
  }
  flush(c);
}

static void reject(const char *line, size_t length) {
  if (has_rejection) return;
  has_rejection = 1;
  while (length > 0 && (line[length - 1] == '\r' || line[length - 1] == '\n')) length--;
  if (length >= sizeof first_rejection) length = sizeof first_rejection - 1;
  memcpy(first_rejection, line, length);
  first_rejection[length] = '\0';
}

/* Takes the complete reply lines in `chunk`; returns how many there were. */
static int receive(conn_t *c, const char *chunk, size_t length, int64_t now) {
  int counted = now >= window_start && now < window_end;
  int answered = 0;
  size_t at = 0;
  while (at < length) {
    const char *nl = memchr(chunk + at, '\n', length - at);
    if (c->line_length == 0) c->first_byte = (unsigned char)chunk[at];
    if (nl == NULL) {
      c->line_length += length - at;
      break;
    }
    size_t end = (size_t)(nl - chunk);
    size_t line_length = c->line_length + end - at;
    int ok = resp ? c->first_byte == ':' : line_length == 1 && c->first_byte == '0';
    int64_t sent = c->sent_at[c->oldest];
    c->oldest = (c->oldest + 1) % pipeline;
    if (c->in_flight > 0) c->in_flight--;
    answered++;
    if (counted) {
      if (ok) {
        acknowledged++;
        int64_t us = (now - sent) / 1000;
        latency_counts[us < 0 ? 0 : us > MAX_LATENCY_US ? MAX_LATENCY_US : us]++;
      } else {
        rejected++;
        reject(chunk + at, end - at);
      }
    }
    c->line_length = 0;
    at = end + 1;
  }
  return answered;
}

static void print_json_string(const char *text) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  int ports[MAX_PORTS];
  int port_count = 0;
  long connections = 1, duration_ms = 5000, warmup_ms = 1000, drain_ms = 10000;
  const char *prefix = "LikesServer1 1 bench-";
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    if (strcmp(flag, "--help") == 0) {
      printf(
          "Usage: load_client --port PORT[,PORT...] [--protocol likes|resp] [--connections N] [--pipeline N]\n"
          "                   [--duration-ms MS] [--warmup-ms MS] [--drain-ms MS] [--prefix TEXT]\n"
          "The bench's load generator in C (see lib/bench/load_client.c).\n");
      return 0;
    }
    if (i + 1 >= argc) usage_error("every flag takes a value");
    const char *value = argv[++i];
    if (strcmp(flag, "--port") == 0) {
      char *list = strdup(value);
      for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
        if (port_count == MAX_PORTS) usage_error("too many ports");
        ports[port_count++] = (int)parse_number(item, 1, 65535, "--port");
      }
      free(list);
    } else if (strcmp(flag, "--protocol") == 0) {
      if (strcmp(value, "resp") == 0) resp = 1;
      else if (strcmp(value, "likes") != 0) usage_error("--protocol must be likes or resp");
    } else if (strcmp(flag, "--connections") == 0) {
      connections = parse_number(value, 1, 100000, flag);
    } else if (strcmp(flag, "--pipeline") == 0) {
      pipeline = (int)parse_number(value, 1, 100000, flag);
    } else if (strcmp(flag, "--duration-ms") == 0) {
      duration_ms = parse_number(value, 1, 86400000, flag);
    } else if (strcmp(flag, "--warmup-ms") == 0) {
      warmup_ms = parse_number(value, 0, 86400000, flag);
    } else if (strcmp(flag, "--drain-ms") == 0) {
      drain_ms = parse_number(value, 0, 86400000, flag);
    } else if (strcmp(flag, "--prefix") == 0) {
      prefix = value;
    } else {
      fprintf(stderr, "load_client: unknown flag %s\n", flag);
      return 2;
    }
  }
  if (port_count == 0) usage_error("--port is required");

  latency_counts = calloc(MAX_LATENCY_US + 1, sizeof *latency_counts);
  conn_t *conns = calloc((size_t)connections, sizeof *conns);
  if (latency_counts == NULL || conns == NULL) fail("calloc");
  epoll_fd = epoll_create1(0);
  if (epoll_fd < 0) fail("epoll_create1");

  size_t message_max = resp ? sizeof RESP_INCRBY : strlen(prefix) + 16 + MAX_SEQ_DIGITS + 2;
  for (long i = 0; i < connections; i++) {
    conn_t *c = &conns[i];
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ports[i % port_count])};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) fail("socket");
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0) {
      fprintf(stderr, "load_client: cannot connect to 127.0.0.1:%d: %s\n", ports[i % port_count], strerror(errno));
      return 1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) fail("fcntl");
    c->open = 1;
    if (!resp) {
      char head[64];
      int head_length = snprintf(head, sizeof head, "%ld ", i);
      c->prefix_length = strlen(prefix) + (size_t)head_length;
      c->prefix = malloc(c->prefix_length + 1);
      if (c->prefix == NULL) fail("malloc");
      memcpy(c->prefix, prefix, strlen(prefix));
      memcpy(c->prefix + strlen(prefix), head, (size_t)head_length);
    }
    c->sent_at = calloc((size_t)pipeline, sizeof *c->sent_at);
    c->out_capacity = (size_t)pipeline * message_max;
    c->out = malloc(c->out_capacity);
    if (c->sent_at == NULL || c->out == NULL) fail("malloc");
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &event) < 0) fail("epoll_ctl");
  }

  int64_t start = now_ns();
  window_start = start + warmup_ms * 1000000;
  window_end = window_start + duration_ms * 1000000;
  int64_t drain_end = window_end + drain_ms * 1000000;
  double cpu_start = 0, cpu_end = 0;
  int started = 0, ended = 0;
  for (long i = 0; i < connections; i++) send_messages(&conns[i], pipeline, start);

  char *buffer = malloc(READ_SIZE);
  struct epoll_event events[256];
  for (;;) {
    int64_t now = now_ns();
    if (!started && now >= window_start) {
      started = 1;
      cpu_start = cpu_seconds();
      printf("window start\n");
      fflush(stdout);
    }
    if (!ended && now >= window_end) {
      ended = 1;
      cpu_end = cpu_seconds();
      printf("window end\n");
      fflush(stdout);
    }
    if (ended) {
      long in_flight = 0;
      for (long i = 0; i < connections; i++) in_flight += conns[i].open ? conns[i].in_flight : 0;
      if (in_flight == 0 || now >= drain_end) break;
    }
    int64_t next = !started ? window_start : !ended ? window_end : drain_end;
    int timeout_ms = (int)((next - now) / 1000000) + 1;
    int n = epoll_wait(epoll_fd, events, 256, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait");
    }
    now = now_ns();
    for (int e = 0; e < n; e++) {
      conn_t *c = events[e].data.ptr;
      if (!c->open) continue;
      if (events[e].events & EPOLLOUT) flush(c);
      if (!c->open || !(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      ssize_t got = recv(c->fd, buffer, READ_SIZE, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        close_conn(c);
        continue;
      }
      int answered = receive(c, buffer, (size_t)got, now);
      if (answered > 0 && now < window_end) send_messages(c, answered, now);
    }
  }
  for (long i = 0; i < connections; i++) close_conn(&conns[i]);

  for (long us = 0; us <= MAX_LATENCY_US; us++) {
    if (latency_counts[us] > 0) printf("latency %ld %u\n", us, latency_counts[us]);
  }
  double seconds = duration_ms / 1000.0;
  printf("result {\"seconds\":%.17g,\"acknowledged\":%lu,\"rejected\":%lu,\"unanswered\":%lu,\"rate\":%.17g,"
         "\"loadCpuSeconds\":%.3f",
         seconds, (unsigned long)acknowledged, (unsigned long)rejected, (unsigned long)unanswered,
         acknowledged / seconds, cpu_end - cpu_start);
  if (has_rejection) {
    printf(",\"firstRejection\":");
    print_json_string(first_rejection);
  }
  printf("}\n");
  return 0;
}
