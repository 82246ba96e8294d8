"""`python -m verifae` runs the verifae command line."""

from .cli import main

main(prog_name="verifae")
