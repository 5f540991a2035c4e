import sys

from vidconsult.cli import main

sys.exit(main())
