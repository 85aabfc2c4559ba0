"""Use cases of daihou. Each runs inside one unit of work, which alone commits.

The service talks to storage only through the ports in `ports.py`; bootstrap wires the adapters.
"""
