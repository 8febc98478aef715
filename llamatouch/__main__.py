import sys

from llamatouch.cli import main

sys.exit(main())
