"""The suite `evolink-contract` runs against a live server (see contract_tests/runner.py)."""
