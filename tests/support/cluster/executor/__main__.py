"""``python -m tests.support.cluster.executor --run RUN --build BUILD``."""

import sys

from tests.support.cluster.executor.executor import main

sys.exit(main())
