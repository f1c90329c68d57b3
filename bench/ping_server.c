/* Floor for the benchmark: the least a server can do to answer framed pings, over TCP loopback
 * or a Unix socket. Reads a 4-byte little-endian length and a body, answers
 * {"id":"1","exit_code":0}. One connection at a time, blocking.
 * Usage: ping_server PORT | ping_server unix:PATH */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *where = argc > 1 ? argv[1] : "52300";
  int unix_socket = strncmp(where, "unix:", 5) == 0;
  int one = 1;
  int s;
  if (unix_socket) {
    struct sockaddr_un u = {0};
    u.sun_family = AF_UNIX;
    if (strlen(where + 5) >= sizeof u.sun_path) {
      fprintf(stderr, "ping_server: path too long\n");
      return 1;
    }
    strcpy(u.sun_path, where + 5);
    unlink(u.sun_path);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&u, sizeof u) || listen(s, 16)) {
      perror("ping_server");
      return 1;
    }
  } else {
    s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(where));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
      perror("ping_server");
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  static const char reply[] = "{\"id\":\"1\",\"exit_code\":0}";
  unsigned char frame[4 + sizeof reply - 1];
  uint32_t rn = sizeof reply - 1;
  frame[0] = rn & 0xff; frame[1] = (rn >> 8) & 0xff; frame[2] = (rn >> 16) & 0xff; frame[3] = rn >> 24;
  memcpy(frame + 4, reply, rn);
  static char body[1 << 20];
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (!unix_socket) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char h[4];
    while (read_full(c, h, 4) == 0) {
      uint32_t n = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
      if (n > sizeof body || read_full(c, body, n)) break;
      if (write(c, frame, sizeof frame) != (ssize_t)sizeof frame) break;
    }
    close(c);
  }
}
