"""The domain: tasks and their plans, the clock and the scheduler, scenarios, limits, billing
rules, faults, journal entries and callback deliveries. Pure: no web framework, no storage, no
network; everything here is testable with a virtual clock and plain values."""
