"""The `daihou` command line: thin drivers over the service (parse → call → render)."""
