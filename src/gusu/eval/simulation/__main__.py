"""``python -m gusu.eval.simulation``: run a simulation campaign (see `gusu.eval.simulation.campaign`)."""

import sys

from gusu.eval.simulation.campaign import main

sys.exit(main())
