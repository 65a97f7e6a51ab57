"""The contract harness: schemathesis checks, the async-job rules and the lifecycle state
machine, and `evolink-contract`, which runs them against any server."""
