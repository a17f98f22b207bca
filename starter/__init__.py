"""`python -m starter`: the intake (HTTP) and the command line for people."""
