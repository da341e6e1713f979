"""Set up Django for a benchmark script run as `python bench/<name>.py` from the project root."""

import os
import sys
from pathlib import Path


def setup() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mining_platform.settings.base")
    import django

    django.setup()
