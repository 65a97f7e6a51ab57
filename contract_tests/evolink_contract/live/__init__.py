"""The suite `evolink-contract` runs against a live server (see `evolink_contract/runner.py`)."""
