"""``python -m seq2expr``: the command line (the same as the ``seq2expr`` script)."""

from seq2expr.cli.main import app

if __name__ == "__main__":
    app(prog_name="seq2expr")
