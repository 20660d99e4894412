"""Runs medallion, the OASIS TAXII 2.1 reference server, on loopback for `isac-bench taxii`.

Usage: serve.py CONFIG_JSON

CONFIG_JSON is a medallion configuration ("users", "taxii", "backend"); its memory backend
reads the seeded data file named there. The server binds 127.0.0.1 on a port the operating
system picks. Once the data file is loaded and the socket is bound, the first line on stdout is
"listening on PORT". Requests are served on threads, as `medallion` itself serves them. The
server exits when its stdin closes, so it never outlives the benchmark that started it.
"""

import json
import os
import sys
import threading

from werkzeug.serving import make_server

from medallion import application_instance, register_blueprints, set_config


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], "r", encoding="utf-8") as f:
        configuration = json.load(f)

    app = application_instance
    set_config(app, "users", configuration)
    set_config(app, "taxii", configuration)
    set_config(app, "backend", configuration)
    register_blueprints(app)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print("listening on {}".format(server.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
