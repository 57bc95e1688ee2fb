"""Tools that build what the package ships, kept out of the runtime package; run from the repository root.

`python -m tools.build_tasks [--check]` rebuilds the offline zero-shot tasks from the shipped texts.
"""
