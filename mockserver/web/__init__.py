"""The HTTP layer: the Starlette app, its dispatcher, the handlers of the vendor's and the admin
routes, and the mapping of errors to the documented envelope."""
