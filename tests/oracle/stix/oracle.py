"""Batch verdicts of the OASIS STIX validator for the isac-stix oracle test.

Reads one JSON document per line on stdin (a STIX object or bundle) and writes one JSON line per
input on stdout: {"valid": bool, "errors": [str, ...]}. Validation runs with the default options
for STIX 2.1 (strict off). Network access is refused: the validator may only read its bundled
schemas and IANA lists.
"""

import ipaddress
import json
import socket
import sys

_real_create_connection = socket.create_connection
_real_connect = socket.socket.connect


def _loopback_only(address):
    host = address[0] if isinstance(address, tuple) else address
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise OSError("network access refused by the isac oracle harness: %r" % (address,))


def _guarded_create_connection(address, *args, **kwargs):
    _loopback_only(address)
    return _real_create_connection(address, *args, **kwargs)


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _loopback_only(address)
    return _real_connect(self, address)


socket.create_connection = _guarded_create_connection
socket.socket.connect = _guarded_connect

import logging  # noqa: E402

logging.disable(logging.CRITICAL)

from stix2validator import ValidationOptions, validate_instance  # noqa: E402


def main():
    options = ValidationOptions(version="2.1")
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        instance = json.loads(line)
        try:
            result = validate_instance(instance, options)
            verdict = {"valid": bool(result.is_valid),
                       "errors": [str(e) for e in result.errors]}
        except Exception as e:  # the validator raises on some malformed input
            verdict = {"valid": False, "errors": ["exception: %s: %s" % (type(e).__name__, e)]}
        out.write(json.dumps(verdict) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
