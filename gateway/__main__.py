"""`python -m gateway` is the `faxgate` command."""

from gateway.cli import main

main()
