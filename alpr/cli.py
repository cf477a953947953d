"""`alpr` command-line tool (placeholder: subcommands are registered below)."""
import sys


def main(argv=None) -> int:
    print("alpr: not yet implemented", file=sys.stderr)
    return 2
