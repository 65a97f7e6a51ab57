"""Delivery of callbacks: the engine that POSTs a task's body when it ends, with the vendor's
retries; the address policy it applies (SSRF); optional Standard Webhooks signatures."""
