"""``python -m lossviz.cli``: the ``lossviz`` command."""

from lossviz.cli import run

if __name__ == "__main__":
    run()
