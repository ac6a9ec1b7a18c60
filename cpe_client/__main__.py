import sys

from cpe_client.cli import run

sys.exit(run())
