"""Lambda code, deployed as one asset (the ``functions`` package at the root of the bundle)."""
