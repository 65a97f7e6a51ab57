"""Contract tests: the simulator and the reference client against the merged OpenAPI document."""
