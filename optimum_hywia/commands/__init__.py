"""Command-line interface: `hywia ...` and `optimum-cli hywia ...`."""
