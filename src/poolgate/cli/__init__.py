"""The `poolgate` command line: one module per command group."""
