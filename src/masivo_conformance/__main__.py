import sys

from masivo_conformance.cli import main

sys.exit(main())
