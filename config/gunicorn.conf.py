"""gunicorn's settings for the survey: `gunicorn -c config/gunicorn.conf.py`.

Threaded workers (gthread): each worker's main thread keeps telling the arbiter it is
alive while its threads serve requests, so a long export download is not killed at
`timeout` (gunicorn's default sync worker is, after 30 s, which cut downloads short),
and the other threads keep answering participants and /healthz/ meanwhile. `timeout`
then only catches a worker whose main loop is stuck. Every value can be changed from
the environment without editing this file. See docs/security.md for the measurements.
"""

import multiprocessing
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, 2 * multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Seconds without a heartbeat from a worker's main loop before it is restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On a restart or reload, running requests (downloads) get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "300"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Requests longer than these are refused before Django sees them.
limit_request_line = 8190
limit_request_fields = 100
# The HTTPS proxy in front sets X-Forwarded-Proto; trust it only from this machine.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
