"""Job lifecycle: submit, position/ETA, claim with leases, run, dispatch."""
