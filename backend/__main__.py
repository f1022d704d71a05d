from __future__ import annotations

import sys

from backend.cli import main

sys.exit(main())
