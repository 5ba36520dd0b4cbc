"""``python -m seq2expr``: the same command line as the ``seq2expr`` script."""

from seq2expr.cli.main import app

if __name__ == "__main__":  # pragma: no cover
    app(prog_name="seq2expr")
