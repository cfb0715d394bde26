import sys

from .cli import main

if __name__ == "__main__":   # guarded: the analysis process imports this module again
    sys.exit(main())
