"""Supply-chain tools run by the Makefile: audit (make test), licences (make deps), outdated (make outdated)."""
