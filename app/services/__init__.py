"""Engine work that takes several calls with branching, one module per resource."""
