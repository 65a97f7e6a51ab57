"""The live dashboard: its routes and its static files."""
