"""``python -m fastconv.keras SCRIPT.py [ARGS...]``: run a Keras program unchanged on fastconv.

See ``fastconv.keras_switch``.
"""

import sys

from fastconv.keras_switch import main

sys.exit(main())
