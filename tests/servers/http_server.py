"""A real HTTP server for the webhook sink tests, on 127.0.0.1.

It prints "PORT n" on its first line of standard output, then stores each
POST it receives in DIRECTORY as NNNN.body (the request body) and NNNN.json
(the path, the headers and the response status).

    http_server.py DIRECTORY [--fail-first N] [--fail-status CODE] [--delay SECONDS]

The first N requests get CODE (500 by default), the later ones 200.
--delay makes the server wait that long before it responds to each request.
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    lock = threading.Lock()
    count = 0

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with Handler.lock:
            Handler.count += 1
            number = Handler.count
        status = self.server.fail_status if number <= self.server.fail_first else 200
        stem = os.path.join(self.server.directory, "%04d" % number)
        record = {"path": self.path, "headers": dict(self.headers.items()), "status": status}
        # Written under temporary names and renamed, so a reader never sees half a file.
        with open(stem + ".body.tmp", "wb") as f:
            f.write(body)
        os.rename(stem + ".body.tmp", stem + ".body")
        with open(stem + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(stem + ".json.tmp", stem + ".json")

        if self.server.delay > 0:
            time.sleep(self.server.delay)
        response = b"ok\n" if status == 200 else b"failing on purpose\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(response)))
        self.end_headers()
        self.wfile.write(response)

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.0)
    arguments = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.directory = arguments.directory
    server.fail_first = arguments.fail_first
    server.fail_status = arguments.fail_status
    server.delay = arguments.delay
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
