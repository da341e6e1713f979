"""A worker process for the collection crash test: runs one site's collection task and never returns early.

Usage: python tests/support/collect_worker.py <site id>
The test points it at its own database (DATABASE_URL) and Redis prefix (PYTEST_XDIST_WORKER), then kills
it while its write transaction waits on a lock the test holds.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mining_platform.settings.test")

import django

django.setup()

from hosting.tasks import telemetry_collect_site_task  # noqa: E402

if __name__ == "__main__":
    telemetry_collect_site_task(site_id=int(sys.argv[1]))
