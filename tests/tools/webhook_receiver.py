#!/usr/bin/env python3
# webhook_receiver.py: a local HTTP receiver for the webhook tests. It
# records every POST as one JSON line and answers by path:
#   /fail...   500 every time
#   /hang...   no answer for --hang seconds (then 200)
#   anything else 200
# Usage: webhook_receiver.py --port-file FILE --log FILE [--hang S]
# It writes the port it bound (on 127.0.0.1, chosen by the OS) to
# --port-file once it serves.
# SPDX-License-Identifier: MIT

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--hang", type=float, default=30.0)
    args = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the log file is the record
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            entry = {
                "ms": int(time.time() * 1000),
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }
            with LOCK, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            if self.path.startswith("/hang"):
                time.sleep(args.hang)
            status = 500 if self.path.startswith("/fail") else 200
            out = b'{"ok":true}' if status == 200 else b'{"ok":false}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass  # the sender gave up (its timeout): expected for /hang

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]) + "\n")
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
