/* A tiny application for sidecar mode on the real node: answers every HTTP request with
 * {"app":"<hostname>"} (the pod name), so a test can tell which pod the leader Service reached.
 * Usage: app [port] (default 8081). One connection at a time; each read and write has a 2 s
 * timeout so a stuck client cannot block it. Exits on SIGTERM. Built statically by
 * hack/image/demo-app.sh into a FROM-scratch image. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void on_stop(int sig) { _exit(128 + sig); }

static void serve(int c, const char *host) {
  struct timeval tv = {.tv_sec = 2};
  char req[2048], body[320], resp[512];
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (read(c, req, sizeof req) <= 0) return;
  int n = snprintf(body, sizeof body, "{\"app\":\"%s\"}\n", host);
  int m = snprintf(resp, sizeof resp,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n%s", n, body);
  if (write(c, resp, (size_t)m) < 0) return;
}

int main(int argc, char **argv) {
  char host[256] = "unknown";
  int port = argc > 1 ? atoi(argv[1]) : 8081, one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  signal(SIGTERM, on_stop);
  signal(SIGINT, on_stop);
  signal(SIGPIPE, SIG_IGN);
  gethostname(host, sizeof host - 1);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
    perror("app: listen");
    return 1;
  }
  fprintf(stderr, "app: %s listening on :%d\n", host, port);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    serve(c, host);
    close(c);
  }
}
