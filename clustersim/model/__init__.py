"""SimPy components of the cluster: nodes, failure clocks, repair, domains, spares, chaos."""
