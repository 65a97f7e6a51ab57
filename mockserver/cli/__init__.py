"""`evolink-mock`: serve the simulator, list its scenarios, print its spec."""
