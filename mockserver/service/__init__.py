"""The service layer: `Simulator`, one method per operation, composed of admission (who, which
scenario, which limits), request parsing, task creation and the admin operations."""
