"""Serve the hello-world baseline exactly as the embedded server serves its functions."""

import os
import sys
from pathlib import Path

import functions_framework
from werkzeug.serving import make_server

app = functions_framework.create_app(
    target="hello", source=str(Path(__file__).with_name("hello_main.py")), signature_type="http"
)
server = make_server("127.0.0.1", int(os.environ.get("PORT", "8090")), app, threaded=True)
print("ready", file=sys.stderr, flush=True)
server.serve_forever()
