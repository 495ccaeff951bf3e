import sys

from gtnas.cli.app import main

sys.exit(main())
