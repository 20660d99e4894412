"""Runs medallion, the OASIS TAXII 2.1 reference server, on loopback for tests and benchmarks.

Usage: serve.py CONFIG_JSON

CONFIG_JSON is a medallion configuration ("users", "taxii", "backend"). The server binds
127.0.0.1 on a port the operating system picks, so parallel tests never collide. In the memory
backend's discovery resource, "{base}" becomes "http://127.0.0.1:PORT" and "{port}" becomes
PORT, so the discovery resource names the real API root URLs. The first line on stdout is
"listening on PORT". The server exits when stdin closes, so it never outlives the test that
started it, even if that test is killed.
"""

import json
import os
import sys
import threading

from werkzeug.serving import make_server

from medallion import application_instance, register_blueprints, set_config


def substitute(value, port):
    if isinstance(value, str):
        return value.replace("{base}", "http://127.0.0.1:{port}").replace("{port}", str(port))
    if isinstance(value, list):
        return [substitute(v, port) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, port) for k, v in value.items()}
    return value


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
    data = app.medallion_backend.data
    if "/discovery" in data:
        data["/discovery"] = substitute(data["/discovery"], server.port)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print("listening on {}".format(server.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
