/*
 * A seed-era LikesServer client, written as the original assignment's C
 * programs were: one send() per message, then one blocking recv() read as a C
 * string. Used by tests/system/seed_era_test.ts.
 *
 *   seed_client bare|padded|half-close PORT MESSAGE...
 *
 * Prints one line per message: the milliseconds until the reply, the bytes
 * received, and the reply as a C string.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("connect");
    exit(1);
  }
  /* A reply that never comes fails the run instead of hanging it. */
  struct timeval timeout = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: seed_client bare|padded|half-close PORT MESSAGE...\n");
    return 2;
  }
  const char *mode = argv[1];
  int port = atoi(argv[2]);
  int half = strcmp(mode, "half-close") == 0;
  int padded = strcmp(mode, "padded") == 0;
  int fd = half ? -1 : connect_to(port);
  for (int i = 3; i < argc; i++) {
    char buf[1024];
    /* Stands in for uninitialised stack bytes: junk, a newline, a message. */
    memset(buf, 'x', sizeof buf);
    if (half) fd = connect_to(port);
    size_t len = strlen(argv[i]);
    memcpy(buf, argv[i], len);
    buf[len] = '\0';
    memcpy(buf + len + 5, "JUNK\nLikesServer9 40\n", 21);
    double started = now_ms();
    if (send(fd, buf, padded ? sizeof buf : len, 0) < 0) {
      perror("send");
      return 1;
    }
    if (half) shutdown(fd, SHUT_WR);
    char reply[256];
    memset(reply, 0, sizeof reply);
    ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
    if (n <= 0) {
      fprintf(stderr, "no reply to message %d\n", i - 2);
      return 1;
    }
    printf("%.1f %zd %s\n", now_ms() - started, n, reply);
    fflush(stdout);
    if (half) close(fd);
  }
  if (!half) close(fd);
  return 0;
}
